// Measuring helpers for bench/run.ts: statistics, standard tools run with
// fixed arguments, per-process accounting from /proc, BPF run-time stats.
import { readdirSync, readFileSync } from "node:fs";

export interface Summary {
  min: number;
  median: number;
  max: number;
  n: number;
}

export function summarize(xs: number[]): Summary {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return { min: NaN, median: NaN, max: NaN, n: 0 };
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { min: s[0]!, median, max: s[s.length - 1]!, n: s.length };
}

/** Nearest-rank percentile. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export function fmt(x: number, digits = 1): string {
  if (!Number.isFinite(x)) return "n/a";
  return x.toFixed(digits);
}

export function fmtSummary(s: Summary, digits = 1): string[] {
  return [fmt(s.min, digits), fmt(s.median, digits), fmt(s.max, digits)];
}

/** Runs a tool with fixed arguments (no shell) and returns stdout; throws on failure. */
export async function tool(argv: string[], timeoutMs = 120_000): Promise<string> {
  const p = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${argv.join(" ")} exited ${code}: ${err.trim().split("\n").pop()}`);
  return out + err;
}

/** perf bench sched pipe: context switches per second. */
export async function perfPipe(loops: number): Promise<number> {
  const out = await tool(["perf", "bench", "sched", "pipe", "-l", String(loops)]);
  const m = /([\d.]+)\s+ops\/sec/.exec(out);
  if (!m) throw new Error(`unexpected perf output: ${out}`);
  return Number(m[1]);
}

export interface Cyclictest {
  avg: number;
  p99: number;
  max: number;
}

export const CYCLICTEST_ARGS = (cpu: number, seconds: number) => [
  "cyclictest",
  "-m",
  "-a",
  String(cpu),
  "-t",
  "1",
  "-p",
  "95",
  "-i",
  "1000",
  "-D",
  String(seconds),
  "-q",
  "-h",
  "20000",
];

/** cyclictest on one CPU (bounded by -D): avg, p99 (from its histogram), max in us. */
export async function cyclictest(cpu: number, seconds: number): Promise<Cyclictest> {
  const out = await tool(CYCLICTEST_ARGS(cpu, seconds), (seconds + 30) * 1000);
  const num = (re: RegExp) => Number(re.exec(out)?.[1]);
  const samples: number[] = [];
  for (const line of out.split("\n")) {
    const m = /^(\d+)\s+(\d+)$/.exec(line.trim());
    if (m && Number(m[2]) > 0) for (let i = 0; i < Number(m[2]); i++) samples.push(Number(m[1]));
  }
  const overflow = num(/# Histogram Overflows: (\d+)/);
  return {
    avg: num(/# Avg Latencies: (\d+)/),
    max: num(/# Max Latencies: (\d+)/),
    // Overflows are above the histogram's range: count them as its top.
    p99: percentile(samples.concat(Array(overflow || 0).fill(20000)), 99),
  };
}

/** CPU time (ns) of all threads of a process, from schedstat. */
export function processCpuNs(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // thread gone
    }
  }
  return total;
}

/** CPU time (ns) per thread, keyed by tid, with its name. */
export function cpuByThread(pid: number): Map<string, { comm: string; ns: number }> {
  const out = new Map<string, { comm: string; ns: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
      const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
      out.set(tid, { comm, ns });
    } catch {
      // thread gone
    }
  }
  return out;
}

/** CPU used by each thread name between two samples; a thread that exited in between counts nothing. */
export function cpuDelta(
  before: Map<string, { comm: string; ns: number }>,
  after: Map<string, { comm: string; ns: number }>,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const [tid, a] of after) out.set(a.comm, (out.get(a.comm) ?? 0) + a.ns - (before.get(tid)?.ns ?? 0));
  return out;
}

export function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
}

export interface ProgStat {
  name: string;
  runTimeNs: number;
  runCnt: number;
}

/** Run-time stats of our programs (and the bench's floor_ ones), by name. */
export async function progStats(): Promise<Map<string, ProgStat>> {
  const progs = JSON.parse(await tool(["bpftool", "-j", "prog", "show"])) as {
    name?: string;
    run_time_ns?: number;
    run_cnt?: number;
  }[];
  const out = new Map<string, ProgStat>();
  for (const p of progs) {
    if (!p.name?.startsWith("stalld_") && !p.name?.startsWith("floor_")) continue;
    const prev = out.get(p.name);
    out.set(p.name, {
      name: p.name,
      runTimeNs: (prev?.runTimeNs ?? 0) + (p.run_time_ns ?? 0),
      runCnt: (prev?.runCnt ?? 0) + (p.run_cnt ?? 0),
    });
  }
  return out;
}

export function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}
