// Benchmarks: what stalld costs the CPUs it protects, and how fast it rescues.
// Runs every figure as root, holding the RT lock for the whole run, and writes
// BENCHMARKS.md. Comparisons alternate A B A B in the same run (noisy VMs).
//   bun bench/run.ts [--quick]
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stalldBpfObject, taskScanBpfObject } from "../src/backends/bpf_object";
import { QueueTrackBackend } from "../src/backends/queue_track";
import { SchedDebugBackend } from "../src/backends/sched_debug";
import { TaskScanBackend } from "../src/backends/task_scan";
import { parseRunConfig, type RunConfig } from "../src/cli/options";
import { Daemon } from "../src/daemon/daemon";
import { Metrics, writeMetricsFile } from "../src/metrics/metrics";
import { closeFd } from "../src/ffi/libc";
import * as bpf from "../src/ffi/libbpf";
import { enableRunTimeStats, libbpfVersion } from "../src/ffi/libbpf";
import { onlineCpus, possibleCpus } from "../src/kernel/cpus";
import { kernelRelease, pidMax } from "../src/kernel/proc";
import { createConsola } from "consola";
import {
  kill, lineTime, pinSelfToCpu0, requireRoot, ROOT, rtRuntime, STALLD, startDaemon, startLoad, VICTIM_CPU,
  withRtLock, type Daemon as DaemonProc, type Load,
} from "../tests/helpers/rt";
import {
  CYCLICTEST_ARGS, cpuByThread, cpuDelta, cyclictest, fmt, fmtSummary, percentile, perfPipe, progStats, rssKb, summarize,
  table, type Summary,
} from "./lib";

const QUICK = process.argv.includes("--quick");
/** `--figure 7`: only that figure (in-process, no RT load), patched into the existing BENCHMARKS.md. */
const ONLY = process.argv.includes("--figure") ? process.argv[process.argv.indexOf("--figure") + 1] : null;
const BACKENDS = ["queue_track", "task_scan", "sched_debug"] as const;
type BackendName = (typeof BACKENDS)[number];
const PIPE_LOOPS = 20_000;
const PAIRS = QUICK ? 2 : 4;
const CT_SECONDS = QUICK ? 4 : 8;
const EPISODES = QUICK ? 4 : 12;
const IDLE_S = QUICK ? 15 : 60;
const LONG_RUN_S = QUICK ? 90 : 600;
const THREADS_BIN = join(ROOT, "build/threads");
const silent = createConsola({ level: -999 });

interface Figure {
  title: string;
  body: string;
}
const figures: Figure[] = [];
const targets: string[][] = [];
const note = (s: string) => process.stderr.write(`bench: ${s}\n`);

/** Children alive right now: on SIGINT/SIGTERM the bench ends them (daemons first, so they restore). */
const liveDaemons = new Set<DaemonProc>();
const liveLoads = new Set<Load>();

async function daemonUp(args: string[]): Promise<DaemonProc> {
  const d = startDaemon(args);
  liveDaemons.add(d);
  const stop = d.stop.bind(d);
  d.stop = async (signal) => {
    liveDaemons.delete(d);
    return stop(signal);
  };
  await d.waitFor(/monitoring CPUs/, 10_000);
  return d;
}

async function load(policy: "fifo", prio: number, seconds: number): Promise<Load> {
  const l = await startLoad(policy, prio, seconds);
  liveLoads.add(l);
  void l.proc.exited.then(() => liveLoads.delete(l));
  return l;
}

function onSignal(rtBefore: number) {
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, async () => {
      note(`${sig}: stopping`);
      for (const l of liveLoads) l.proc.kill("SIGKILL");
      await Promise.all([...liveDaemons].map((d) => d.stop()));
      if (rtRuntime() !== rtBefore) writeFileSync("/proc/sys/kernel/sched_rt_runtime_us", `${rtBefore}\n`);
      process.exit(130);
    });
  }
}

/** Without, with backend A, with backend B, repeated: every series from the same stretch of time. */
async function alternate<T>(rounds: number, run: () => Promise<T>): Promise<{ without: T[]; with: Record<BackendName, T[]> }> {
  const out = { without: [] as T[], with: Object.fromEntries(BACKENDS.map((b) => [b, [] as T[]])) as Record<BackendName, T[]> };
  for (let i = 0; i < rounds; i++) {
    out.without.push(await run());
    for (const b of BACKENDS) {
      const d = await daemonUp(["run", "-b", b]);
      try {
        out.with[b].push(await run());
      } finally {
        await d.stop();
      }
    }
  }
  return out;
}

/** One row: a label, min/median/max per backend (blank where a backend has none), the command. */
function row(label: string, per: Partial<Record<BackendName, Summary | number | string>>, digits = 1, command = ""): string[] {
  const cells = BACKENDS.flatMap((b) => {
    const v = per[b];
    if (v === undefined) return ["", "", ""];
    if (typeof v === "string") return [v, "", ""];
    if (typeof v === "number") return [fmt(v, digits), "", ""];
    return fmtSummary(v, digits);
  });
  return [label, ...cells, command];
}

const HEADER = (what: string) => [what, ...BACKENDS.flatMap((b) => [`${b} min`, "median", "max"]), "command"];
const both = (f: (b: BackendName) => Summary): Record<BackendName, Summary> =>
  Object.fromEntries(BACKENDS.map((b) => [b, f(b)])) as Record<BackendName, Summary>;
/** The same value in every backend's column (a measurement without the daemon). */
const same = <T,>(v: T): Record<BackendName, T> => Object.fromEntries(BACKENDS.map((b) => [b, v])) as Record<BackendName, T>;

async function fig2Throughput() {
  note("figure 2: perf bench sched pipe, without/with the daemon");
  const r = await alternate(PAIRS, () => perfPipe(PIPE_LOOPS));
  const without = summarize(r.without);
  const ratio = both((b) => summarize(r.with[b].map((w, i) => (100 * w) / r.without[i]!)));
  figures.push({
    title: "2. Context-switch throughput, with vs without the daemon",
    body: table(HEADER("ops/s"), [
      row("without daemon", same(without), 0, `\`perf bench sched pipe -l ${PIPE_LOOPS}\``),
      row("with daemon", both((b) => summarize(r.with[b])), 0, "same, while `dist/stalld run -b <backend>` runs"),
      row("with / without, per round (%)", ratio, 1, `${PAIRS} rounds of without, ${BACKENDS.join(", ")}`),
    ]),
  });
  targets.push(["2: throughput with daemon >= 98 % of without", BACKENDS.map((b) => `${b} ${fmt(ratio[b].median)} %`).join("; "), BACKENDS.map((b) => `${b} ${ratio[b].median >= 98 ? "met" : "missed"}`).join(", ")]);
}

async function fig3Latency() {
  note("figure 3: cyclictest on CPU 1, without/with the daemon");
  const r = await alternate(PAIRS, () => cyclictest(VICTIM_CPU, CT_SECONDS));
  const cmd = `\`${CYCLICTEST_ARGS(VICTIM_CPU, CT_SECONDS).join(" ")}\``;
  const rows: string[][] = [];
  for (const k of ["avg", "p99", "max"] as const) {
    const without = summarize(r.without.map((x) => x[k]));
    rows.push(row(`${k} without (us)`, same(without), 0, cmd));
    rows.push(row(`${k} with (us)`, both((b) => summarize(r.with[b].map((x) => x[k]))), 0, "same, while `dist/stalld run -b <backend>` runs"));
    rows.push(row(`${k} with / without (%)`, both((b) => summarize(r.with[b].map((x, i) => (100 * x[k]) / Math.max(1, r.without[i]![k])))), 0, "per round"));
  }
  figures.push({ title: "3. Wake-up latency on the monitored CPU 1 (cyclictest, FIFO 95)", body: table(HEADER("latency"), rows) });
  const avgWo = summarize(r.without.map((x) => x.avg));
  const maxWo = summarize(r.without.map((x) => x.max));
  const verdict = (b: BackendName) => {
    const avg = summarize(r.with[b].map((x) => x.avg)).median;
    const max = summarize(r.with[b].map((x) => x.max)).median;
    return { avg, max, ok: max <= maxWo.max && avg <= avgWo.max };
  };
  targets.push([
    "3: cyclictest avg and max on CPU 1 not measurably worse",
    `without: avg ${fmt(avgWo.median, 0)} us (${fmt(avgWo.min, 0)}-${fmt(avgWo.max, 0)}), max ${fmt(maxWo.median, 0)} us (${fmt(maxWo.min, 0)}-${fmt(maxWo.max, 0)}); ` +
      BACKENDS.map((b) => `${b}: avg ${fmt(verdict(b).avg, 0)}, max ${fmt(verdict(b).max, 0)} us`).join("; "),
    BACKENDS.map((b) => `${b} ${verdict(b).ok ? "met (within the without-runs' spread)" : "missed"}`).join(", "),
  ]);
}

async function startupTimes(): Promise<Record<BackendName, Summary>> {
  note("figure 6: start-up to monitoring");
  const ms = Object.fromEntries(BACKENDS.map((b) => [b, [] as number[]])) as Record<BackendName, number[]>;
  for (let i = 0; i < 5; i++) {
    for (const b of BACKENDS) {
      const t0 = Date.now();
      const d = startDaemon(["run", "-l", "-b", b]);
      const line = await d.waitFor(/monitoring CPUs/, 10_000);
      ms[b].push(lineTime(line) - t0);
      await d.stop();
    }
  }
  return both((b) => summarize(ms[b]));
}

/** Empty programs on the same tracepoints: the per-event floor on this machine. */
function loadFloor(): () => void {
  const bytes = new Uint8Array(readFileSync(join(ROOT, "build/bench_floor.bpf.o")));
  const obj = bpf.openMem(bytes);
  const links: bpf.BpfLink[] = [];
  try {
    bpf.load(obj);
    for (const name of ["floor_switch", "floor_wakeup"]) links.push(bpf.attach(bpf.findProgram(obj, name), name));
  } catch (e) {
    for (const l of links) bpf.destroyLink(l);
    bpf.close(obj);
    throw e;
  }
  return () => {
    for (const l of links) bpf.destroyLink(l);
    bpf.close(obj);
    void bytes;
  };
}

async function fig1EventCost() {
  note("figure 1: ns per program run under perf bench sched pipe");
  const fd = enableRunTimeStats();
  const unloadFloor = loadFloor();
  const perProg = new Map<string, number[]>();
  try {
    for (let i = 0; i < (QUICK ? 2 : 3); i++) {
      const before = await progStats();
      await perfPipe(PIPE_LOOPS);
      const after = await progStats();
      for (const [name, a] of after) {
        const b = before.get(name);
        const runs = a.runCnt - (b?.runCnt ?? 0);
        if (runs > 0) perProg.set(name, [...(perProg.get(name) ?? []), (a.runTimeNs - (b?.runTimeNs ?? 0)) / runs]);
      }
    }
  } finally {
    unloadFloor();
    closeFd(fd);
  }
  const cmd = `\`perf bench sched pipe -l ${PIPE_LOOPS}\` with BPF_ENABLE_STATS, \`bpftool prog show\` run_time_ns/run_cnt`;
  const rows: string[][] = [
    row("programs on scheduler tracepoints", { queue_track: "5", task_scan: "0", sched_debug: "0 (no BPF)" }, 0, "`bpftool link show` while each daemon runs"),
  ];
  for (const [name, xs] of [...perProg.entries()].sort()) {
    const s = summarize(xs);
    if (name.startsWith("floor_")) rows.push(row(`${name} (empty program: the floor)`, same(s), 0, cmd));
    else if (name === "stalld_scan") rows.push(row("stalld_scan (per task visited, in the daemon's pass, off the hot path)", { task_scan: s }, 0, cmd));
    else rows.push(row(name, { queue_track: s }, 0, cmd));
  }
  figures.push({ title: "1. Per-event cost of each attached BPF program (ns per run)", body: table(HEADER("program"), rows) });
  const med = (name: string) => summarize(perProg.get(name) ?? []).median;
  const ours = [...perProg.keys()].filter((n) => n.startsWith("stalld_") && n !== "stalld_scan");
  const worstName = ours.reduce((a, b) => (med(a) >= med(b) ? a : b), ours[0] ?? "");
  const worst = med(worstName);
  targets.push([
    "1: <= 150 ns per event, any hot-path program",
    `queue_track: worst median ${fmt(worst, 0)} ns (${worstName}), sched_switch ${fmt(med("stalld_switch"), 0)} ns vs empty-program floor ${fmt(med("floor_switch"), 0)} ns; task_scan: no hot-path program; sched_debug: no BPF`,
    `queue_track ${worst <= 150 ? "met" : "missed"}, task_scan met, sched_debug met`,
  ]);
}

async function episode(backend: BackendName): Promise<number> {
  let hog: Load | undefined;
  let victim: Load | undefined;
  const d = await daemonUp(["run", "-b", backend, "-c", String(VICTIM_CPU), "-t", "1", "-d", "1"]);
  try {
    hog = await load("fifo", 10, 8);
    await Bun.sleep(50);
    // The victim is queued behind the hog from the moment it is ready.
    victim = await load("fifo", 1, 9);
    const queuedAt = Date.now();
    await d.waitFor(new RegExp(`-${victim.pid} starved on CPU`), 7000);
    const boost = await d.waitFor(new RegExp(`boosted pid ${victim.pid} `), 2000);
    return lineTime(boost) - queuedAt - 1000;
  } finally {
    await kill(hog, victim);
    await d.stop();
  }
}

async function fig4Detection() {
  note(`figure 4: ${EPISODES} starvation episodes per backend`);
  const delays = Object.fromEntries(BACKENDS.map((b) => [b, [] as number[]])) as Record<BackendName, number[]>;
  for (let i = 0; i < EPISODES; i++) for (const b of BACKENDS) delays[b].push(await episode(b));
  const cell = (b: BackendName) => `${delays[b].length} episodes: p50 ${fmt(percentile(delays[b], 50))}, p95 ${fmt(percentile(delays[b], 95))}, max ${fmt(Math.max(...delays[b]))}`;
  figures.push({
    title: "4. Detection delay: threshold crossing to boost applied (ms)",
    body: table(["backend", "delay (ms)", "command"], BACKENDS.map((b) => [b, cell(b),
      `\`dist/stalld run -b ${b} -c 1 -t 1 -d 1\`; FIFO 1 victim behind a FIFO 10 busy loop on CPU 1; delay = boost line - (victim queued + threshold), wall clock; backends alternated`])),
  });
  targets.push([
    "4: p95 detection delay <= 50 ms past the threshold",
    BACKENDS.map((b) => `${b} p95 ${fmt(percentile(delays[b], 95))} ms`).join("; "),
    BACKENDS.map((b) => `${b} ${percentile(delays[b], 95) <= 50 ? "met" : "missed"}`).join(", "),
  ]);
}

function makeBackend(b: BackendName, cfg: RunConfig) {
  if (b === "sched_debug") return new SchedDebugBackend({ cpus: cfg.cpus, log: silent });
  if (b === "task_scan") {
    return new TaskScanBackend({ object: taskScanBpfObject(), cpus: cfg.cpus, reportNs: (cfg.thresholdS - cfg.granularityS) * 1e9, log: silent });
  }
  return new QueueTrackBackend({ object: stalldBpfObject(), possibleCpus: possibleCpus().length, pidMax: pidMax(), log: silent });
}

async function fig5PassCost() {
  note("figure 5: CPU time of one detection pass");
  const rows: string[][] = [];
  const worst = same(0);
  const cfg: RunConfig = parseRunConfig({ "log-only": true, "no-idle-detect": true }, onlineCpus(), possibleCpus().length);
  for (const n of [100, 1000, 10_000]) {
    const threads = Bun.spawn([THREADS_BIN, String(n), "120"], { stdout: "pipe" });
    // Wait for "ready": every thread exists (stdout stays open until it exits).
    const reader = threads.stdout.getReader();
    let ready = "";
    while (!ready.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`build/threads ${n} exited early`);
      ready += new TextDecoder().decode(value);
    }
    reader.releaseLock();
    const per = Object.fromEntries(BACKENDS.map((b) => [b, [] as number[]])) as Record<BackendName, number[]>;
    try {
      for (const b of BACKENDS) {
        const backend = makeBackend(b, cfg);
        try {
          backend.start();
          const daemon = new Daemon(cfg, backend, silent);
          const passes = 200;
          for (let run = 0; run < 3; run++) {
            const c0 = process.cpuUsage();
            for (let i = 0; i < passes; i++) daemon.pass();
            const c1 = process.cpuUsage(c0);
            per[b].push((c1.user + c1.system) / passes / 1000);
          }
        } finally {
          backend.stop();
        }
      }
    } finally {
      threads.kill("SIGKILL");
      await threads.exited;
    }
    const s = both((b) => summarize(per[b]));
    for (const b of BACKENDS) worst[b] = Math.max(worst[b], s[b].median);
    rows.push(row(`${n} threads alive`, s, 3, `\`build/threads ${n} 120\`; 200 passes of the daemon's pass() in-process (all CPUs monitored), process.cpuUsage`));
  }
  return { rows, worst };
}

/** A pass's CPU time without and with metrics (counting, rendering, the textfile written), alternated. */
async function fig7MetricsCost() {
  note("figure 7: cost of metrics in a pass");
  const cfg: RunConfig = parseRunConfig({ "log-only": true, "no-idle-detect": true }, onlineCpus(), possibleCpus().length);
  const file = join(ROOT, "build/bench-metrics.prom");
  const per = { without: [] as number[], with: [] as number[] };
  const backend = makeBackend("task_scan", cfg);
  backend.start();
  try {
    for (let round = 0; round < 5; round++) {
      for (const mode of ["without", "with"] as const) {
        const metrics = mode === "with" ? new Metrics("bench", backend.name) : undefined;
        const daemon = new Daemon(cfg, backend, silent, {
          metrics,
          afterPass: metrics ? () => writeMetricsFile(file, metrics.render()) : undefined,
          dlServers: () => ({ kind: "none", source: "bench", cpus: new Map() }),
        });
        const passes = 200;
        const c0 = process.cpuUsage();
        for (let i = 0; i < passes; i++) daemon.pass();
        const c1 = process.cpuUsage(c0);
        per[mode].push((c1.user + c1.system) / passes / 1000);
      }
    }
  } finally {
    backend.stop();
    rmSync(file, { force: true });
  }
  const wo = summarize(per.without);
  const w = summarize(per.with);
  const ratio = summarize(per.with.map((x, i) => (100 * x) / per.without[i]!));
  const cmd = "200 passes of the daemon's pass() in-process, task_scan, all CPUs, 5 rounds alternated; with = --metrics-file (counters, render, write + rename each pass)";
  figures.push({
    title: "7. Cost of metrics: one pass's CPU time (ms) without and with",
    body: table(["pass", "min", "median", "max", "command"], [
      ["without metrics", ...fmtSummary(wo, 3), cmd],
      ["with --metrics-file", ...fmtSummary(w, 3), "same"],
      ["with / without (%)", ...fmtSummary(ratio, 1), "per round"],
    ]),
  });
}

/** Replaces one figure's section in BENCHMARKS.md and says when it was re-run. */
function patchReport(started: Date) {
  const path = join(ROOT, "BENCHMARKS.md");
  const f = figures[0]!;
  const text = readFileSync(path, "utf8");
  const start = text.indexOf(`## ${f.title.split(".")[0]}.`);
  if (start < 0) throw new Error(`figure ${f.title} not in BENCHMARKS.md: run the whole bench`);
  const next = text.indexOf("\n## ", start + 3);
  const section = `## ${f.title}\n\nRe-run alone on ${started.toISOString()} (\`bash bench/run.sh --figure ${ONLY}\`).\n\n${f.body}\n`;
  writeFileSync(path, text.slice(0, start) + section + (next < 0 ? "" : text.slice(next + 1)));
  note(`patched figure ${ONLY} into BENCHMARKS.md`);
}

async function main() {
  if (ONLY) {
    if (ONLY !== "7") throw new Error("--figure: only 7 (in-process) can run alone");
    requireRoot();
    const started = new Date();
    await fig7MetricsCost();
    patchReport(started);
    return;
  }
  requireRoot();
  pinSelfToCpu0();
  const rtBefore = rtRuntime();
  onSignal(rtBefore);
  const started = new Date();
  const long: Partial<Record<BackendName, DaemonProc>> = {};
  try {
    await withRtLock(async () => {
      await fig2Throughput();
      await fig3Latency();
      const startup = await startupTimes();

      note(`long run: one daemon per backend for ${LONG_RUN_S} s (RSS, idle CPU)`);
      for (const b of BACKENDS) long[b] = await daemonUp(["run", "-b", b]);
      const longStart = Date.now();
      await Bun.sleep(2000);
      const pid = (b: BackendName) => long[b]!.proc.pid;
      const rssStart = Object.fromEntries(BACKENDS.map((b) => [b, rssKb(pid(b))])) as Record<BackendName, number>;
      const cpu0 = Object.fromEntries(BACKENDS.map((b) => [b, cpuByThread(pid(b))])) as Record<BackendName, ReturnType<typeof cpuByThread>>;
      await Bun.sleep(IDLE_S * 1000);
      const idle = Object.fromEntries(BACKENDS.map((b) => {
        const byThread = [...cpuDelta(cpu0[b], cpuByThread(pid(b)))];
        const total = byThread.reduce((acc, [, ns]) => acc + ns, 0);
        return [b, { perHourS: (total / 1e9) * (3600 / IDLE_S), byThread: byThread.map(([c, ns]) => `${c} ${fmt(ns / 1e6, 2)} ms`).join(", ") }];
      })) as Record<BackendName, { perHourS: number; byThread: string }>;

      await fig1EventCost();
      await fig4Detection();
      const pass = await fig5PassCost();
      await fig7MetricsCost();
      pass.rows.push(row("daemon CPU per idle hour (s)", Object.fromEntries(BACKENDS.map((b) => [b, idle[b].perHourS])), 2,
        `\`dist/stalld run -b <backend>\` idle for ${IDLE_S} s (from 2 s after start), schedstat of all its threads, x ${3600 / IDLE_S}; by thread: ` +
          BACKENDS.map((b) => `${b}: ${idle[b].byThread}`).join("; ")));
      figures.push({ title: "5. Cost of one detection pass (ms of CPU) and of an idle hour", body: table(HEADER("pass"), pass.rows) });
      targets.push([
        "5: idle CPU < 1 s per hour; a pass over 10,000 threads < 10 ms",
        BACKENDS.map((b) => `${b}: ${fmt(idle[b].perHourS, 2)} s/hour, worst pass median ${fmt(pass.worst[b], 3)} ms`).join("; "),
        BACKENDS.map((b) => `${b} ${idle[b].perHourS < 1 && pass.worst[b] < 10 ? "met" : "missed"}`).join(", "),
      ]);

      const left = LONG_RUN_S * 1000 - (Date.now() - longStart);
      if (left > 0) {
        note(`waiting ${Math.round(left / 1000)} s for the long runs' RSS`);
        await Bun.sleep(left);
      }
      const rssEnd = Object.fromEntries(BACKENDS.map((b) => [b, rssKb(pid(b))])) as Record<BackendName, number>;
      // The last started saw throttling already off; stop it first so the first one restores it.
      for (const b of [...BACKENDS].reverse()) {
        await long[b]!.stop();
        delete long[b];
      }
      const size = statSync(STALLD).size;
      const mb = (kb: Record<BackendName, number>) => Object.fromEntries(BACKENDS.map((b) => [b, kb[b] / 1024])) as Record<BackendName, number>;
      figures.push({
        title: "6. Memory, start-up time, binary size",
        body: table(HEADER("what"), [
          row("RSS 2 s after start (MB)", mb(rssStart), 1, "`dist/stalld run -b <backend>`, VmRSS"),
          row(`RSS after ${LONG_RUN_S / 60} min (MB)`, mb(rssEnd), 1, "same processes"),
          row("exec to \"monitoring\" (ms)", startup, 0, "`dist/stalld run -l -b <backend>`, 5 starts each, alternated: spawn time to the monitoring line's timestamp"),
          row("binary size (MB, one binary for all)", same(size / 1e6), 1, "`stat -c %s dist/stalld`"),
        ]),
      });
      targets.push([
        "6: start-up < 200 ms; RSS < 50 MB",
        BACKENDS.map((b) => `${b}: start-up median ${fmt(startup[b].median, 0)} ms, RSS ${fmt(rssStart[b] / 1024)} -> ${fmt(rssEnd[b] / 1024)} MB`).join("; "),
        BACKENDS.map((b) => `${b} ${startup[b].median < 200 && rssEnd[b] / 1024 < 50 ? "met" : "missed"}`).join(", "),
      ]);
    });
  } finally {
    for (const d of Object.values(long)) await d?.stop();
    if (rtRuntime() !== rtBefore) {
      writeFileSync("/proc/sys/kernel/sched_rt_runtime_us", `${rtBefore}\n`);
      note(`sched_rt_runtime_us put back to ${rtBefore}`);
    }
  }
  writeReport(started);
}

function writeReport(started: Date) {
  const order = (f: Figure) => Number(f.title.split(".")[0]);
  const lines = [
    "# Benchmarks",
    "",
    `Generated by \`bash bench/run.sh${QUICK ? " --quick" : ""}\` on ${started.toISOString()}: kernel ${kernelRelease()}, ` +
      `${onlineCpus().length} CPUs, libbpf ${libbpfVersion()}, Bun ${Bun.version}. Backends measured: ${BACKENDS.join(", ")}.`,
    "Each comparison alternates without/with the daemon in the same run; ratios are per pair. These VMs are noisy:",
    "compare rows of one run, not numbers across runs.",
    "",
    "## Targets",
    "",
    table(["target", "measured", "status"], targets.sort()),
    "",
    ...figures.sort((a, b) => order(a) - order(b)).flatMap((f) => [`## ${f.title}`, "", f.body, ""]),
  ];
  writeFileSync(join(ROOT, "BENCHMARKS.md"), lines.join("\n"));
  note("wrote BENCHMARKS.md");
}

await main();
