// Benchmarks: what stalld costs the CPUs it protects, and how fast it rescues.
// Runs every figure as root, holding the RT lock for the whole run, and writes
// BENCHMARKS.md. Comparisons alternate A B A B in the same run (noisy VMs).
// The report's helpers are in report.ts, the in-process pass figures in passes.ts.
//   bun bench/run.ts [--quick | --figure 7]
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as bpf from "../src/ffi/libbpf";
import { enableRunTimeStats } from "../src/ffi/libbpf";
import { closeFd } from "../src/ffi/libc";
import {
  type Daemon as DaemonProc,
  kill,
  type Load,
  lineTime,
  pinSelfToCpu0,
  ROOT,
  requireRoot,
  rtRuntime,
  STALLD,
  startDaemon,
  startLoad,
  VICTIM_CPU,
  withRtLock,
} from "../tests/helpers/rt";
import {
  CYCLICTEST_ARGS,
  cpuByThread,
  cpuDelta,
  cyclictest,
  fmt,
  percentile,
  perfPipe,
  progStats,
  rssKb,
  type Summary,
  summarize,
  table,
} from "./lib";
import { fig5PassCost, fig7MetricsCost } from "./passes";
import {
  BACKENDS,
  type BackendName,
  both,
  figures,
  HEADER,
  note,
  patchReport,
  row,
  same,
  targets,
  writeReport,
} from "./report";

const QUICK = process.argv.includes("--quick");
/** `--figure 7`: only that figure (in-process, no RT load), patched into the existing BENCHMARKS.md. */
const ONLY = process.argv.includes("--figure") ? process.argv[process.argv.indexOf("--figure") + 1] : null;
const PIPE_LOOPS = 20_000;
const PAIRS = QUICK ? 2 : 4;
const CT_SECONDS = QUICK ? 4 : 8;
const EPISODES = QUICK ? 4 : 12;
const IDLE_S = QUICK ? 15 : 60;
const LONG_RUN_S = QUICK ? 90 : 600;

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
async function alternate<T>(
  rounds: number,
  run: () => Promise<T>,
): Promise<{ without: T[]; with: Record<BackendName, T[]> }> {
  const out = {
    without: [] as T[],
    with: Object.fromEntries(BACKENDS.map((b) => [b, [] as T[]])) as Record<BackendName, T[]>,
  };
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

async function fig2Throughput() {
  note("figure 2: perf bench sched pipe, without/with the daemon");
  const r = await alternate(PAIRS, () => perfPipe(PIPE_LOOPS));
  const without = summarize(r.without);
  const ratio = both((b) => summarize(r.with[b].map((w, i) => (100 * w) / r.without[i]!)));
  figures.push({
    title: "2. Context-switch throughput, with vs without the daemon",
    body: table(HEADER("ops/s"), [
      row("without daemon", same(without), 0, `\`perf bench sched pipe -l ${PIPE_LOOPS}\``),
      row(
        "with daemon",
        both((b) => summarize(r.with[b])),
        0,
        "same, while `dist/stalld run -b <backend>` runs",
      ),
      row("with / without, per round (%)", ratio, 1, `${PAIRS} rounds of without, ${BACKENDS.join(", ")}`),
    ]),
  });
  targets.push([
    "2: throughput with daemon >= 98 % of without",
    BACKENDS.map((b) => `${b} ${fmt(ratio[b].median)} %`).join("; "),
    BACKENDS.map((b) => `${b} ${ratio[b].median >= 98 ? "met" : "missed"}`).join(", "),
  ]);
}

async function fig3Latency() {
  note("figure 3: cyclictest on CPU 1, without/with the daemon");
  const r = await alternate(PAIRS, () => cyclictest(VICTIM_CPU, CT_SECONDS));
  const cmd = `\`${CYCLICTEST_ARGS(VICTIM_CPU, CT_SECONDS).join(" ")}\``;
  const rows: string[][] = [];
  for (const k of ["avg", "p99", "max"] as const) {
    const without = summarize(r.without.map((x) => x[k]));
    rows.push(row(`${k} without (us)`, same(without), 0, cmd));
    rows.push(
      row(
        `${k} with (us)`,
        both((b) => summarize(r.with[b].map((x) => x[k]))),
        0,
        "same, while `dist/stalld run -b <backend>` runs",
      ),
    );
    rows.push(
      row(
        `${k} with / without (%)`,
        both((b) => summarize(r.with[b].map((x, i) => (100 * x[k]) / Math.max(1, r.without[i]![k])))),
        0,
        "per round",
      ),
    );
  }
  figures.push({
    title: "3. Wake-up latency on the monitored CPU 1 (cyclictest, FIFO 95)",
    body: table(HEADER("latency"), rows),
  });
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
    row(
      "programs on scheduler tracepoints",
      { queue_track: "5", task_scan: "0", sched_debug: "0 (no BPF)" },
      0,
      "`bpftool link show` while each daemon runs",
    ),
  ];
  for (const [name, xs] of [...perProg.entries()].sort()) {
    const s = summarize(xs);
    if (name.startsWith("floor_")) rows.push(row(`${name} (empty program: the floor)`, same(s), 0, cmd));
    else if (name === "stalld_scan")
      rows.push(
        row("stalld_scan (per task visited, in the daemon's pass, off the hot path)", { task_scan: s }, 0, cmd),
      );
    else rows.push(row(name, { queue_track: s }, 0, cmd));
  }
  figures.push({
    title: "1. Per-event cost of each attached BPF program (ns per run)",
    body: table(HEADER("program"), rows),
  });
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
  const cell = (b: BackendName) =>
    `${delays[b].length} episodes: p50 ${fmt(percentile(delays[b], 50))}, p95 ${fmt(percentile(delays[b], 95))}, max ${fmt(Math.max(...delays[b]))}`;
  figures.push({
    title: "4. Detection delay: threshold crossing to boost applied (ms)",
    body: table(
      ["backend", "delay (ms)", "command"],
      BACKENDS.map((b) => [
        b,
        cell(b),
        `\`dist/stalld run -b ${b} -c 1 -t 1 -d 1\`; FIFO 1 victim behind a FIFO 10 busy loop on CPU 1; delay = boost line - (victim queued + threshold), wall clock; backends alternated`,
      ]),
    ),
  });
  targets.push([
    "4: p95 detection delay <= 50 ms past the threshold",
    BACKENDS.map((b) => `${b} p95 ${fmt(percentile(delays[b], 95))} ms`).join("; "),
    BACKENDS.map((b) => `${b} ${percentile(delays[b], 95) <= 50 ? "met" : "missed"}`).join(", "),
  ]);
}

async function main() {
  if (ONLY) {
    if (ONLY !== "7") throw new Error("--figure: only 7 (in-process) can run alone");
    requireRoot();
    const started = new Date();
    await fig7MetricsCost();
    patchReport(started, ONLY);
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

      // Idle CPU: one daemon at a time on a quiet machine, so none sees another's passes.
      const idle = {} as Record<BackendName, { perHourS: number; byThread: string }>;
      for (const b of BACKENDS) {
        note(`idle: ${b} alone for ${IDLE_S} s`);
        const d = await daemonUp(["run", "-b", b]);
        try {
          await Bun.sleep(2000);
          const cpu0 = cpuByThread(d.proc.pid);
          await Bun.sleep(IDLE_S * 1000);
          const byThread = [...cpuDelta(cpu0, cpuByThread(d.proc.pid))];
          const total = byThread.reduce((acc, [, ns]) => acc + ns, 0);
          idle[b] = {
            perHourS: (total / 1e9) * (3600 / IDLE_S),
            byThread: byThread.map(([c, ns]) => `${c} ${fmt(ns / 1e6, 2)} ms`).join(", "),
          };
        } finally {
          await d.stop();
        }
      }

      // RSS: one daemon per backend, up through the figures below (figure 5 runs 10,000 threads).
      note(`long run: one daemon per backend for ${LONG_RUN_S} s (RSS)`);
      for (const b of BACKENDS) long[b] = await daemonUp(["run", "-b", b]);
      const longStart = Date.now();
      await Bun.sleep(2000);
      const pid = (b: BackendName) => long[b]!.proc.pid;
      const rssStart = Object.fromEntries(BACKENDS.map((b) => [b, rssKb(pid(b))])) as Record<BackendName, number>;

      await fig1EventCost();
      await fig4Detection();
      const pass = await fig5PassCost();
      await fig7MetricsCost();
      pass.rows.push(
        row(
          "daemon CPU per idle hour (s)",
          Object.fromEntries(BACKENDS.map((b) => [b, idle[b].perHourS])),
          2,
          `\`dist/stalld run -b <backend>\` alone on the idle machine for ${IDLE_S} s (from 2 s after start), schedstat of all its threads, x ${3600 / IDLE_S}; by thread: ` +
            BACKENDS.map((b) => `${b}: ${idle[b].byThread}`).join("; "),
        ),
      );
      figures.push({
        title: "5. Cost of one detection pass (ms of CPU) and of an idle hour",
        body: table(HEADER("pass"), pass.rows),
      });
      targets.push([
        "5: idle CPU < 1 s per hour; a pass over 10,000 threads < 10 ms",
        BACKENDS.map(
          (b) => `${b}: ${fmt(idle[b].perHourS, 2)} s/hour, worst pass median ${fmt(pass.worst[b], 3)} ms`,
        ).join("; "),
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
      const mb = (kb: Record<BackendName, number>) =>
        Object.fromEntries(BACKENDS.map((b) => [b, kb[b] / 1024])) as Record<BackendName, number>;
      figures.push({
        title: "6. Memory, start-up time, binary size",
        body: table(HEADER("what"), [
          row("RSS 2 s after start (MB)", mb(rssStart), 1, "`dist/stalld run -b <backend>`, VmRSS"),
          row(
            `RSS after ${LONG_RUN_S / 60} min (MB)`,
            mb(rssEnd),
            1,
            "same processes, running through figures 1, 4, 5 (10,000 threads) and 7",
          ),
          row(
            'exec to "monitoring" (ms)',
            startup,
            0,
            "`dist/stalld run -l -b <backend>`, 5 starts each, alternated: spawn time to the monitoring line's timestamp",
          ),
          row("binary size (MB, one binary for all)", same(size / 1e6), 1, "`stat -c %s dist/stalld`"),
        ]),
      });
      targets.push([
        "6: start-up < 200 ms; RSS < 50 MB",
        BACKENDS.map(
          (b) =>
            `${b}: start-up median ${fmt(startup[b].median, 0)} ms, RSS ${fmt(rssStart[b] / 1024)} -> ${fmt(rssEnd[b] / 1024)} MB`,
        ).join("; "),
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
  writeReport(started, QUICK);
}

await main();
