// What one detection pass costs, in-process: with 100 to 10,000 threads alive
// per backend (figure 5), and with metrics on and off (figure 7).
import { rmSync } from "node:fs";
import { join } from "node:path";
import { backendByName } from "../src/backends/registry";
import { parseRunConfig } from "../src/cli/options";
import type { RunConfig } from "../src/config";
import type { Daemon } from "../src/daemon/daemon";
import { onlineCpus, possibleCpus } from "../src/kernel/cpus";
import { Metrics, writeMetricsFile } from "../src/metrics/metrics";
import { testDaemon } from "../tests/helpers/fakes";
import { ROOT } from "../tests/helpers/rt";
import { fmtSummary, summarize, table } from "./lib";
import { BACKENDS, type BackendName, both, figures, note, row, same, silent } from "./report";

const THREADS_BIN = join(ROOT, "build/threads");
const PASSES = 200;

/** CPU time (ms) of one of PASSES consecutive passes. */
function msPerPass(daemon: Daemon): number {
  const c0 = process.cpuUsage();
  for (let i = 0; i < PASSES; i++) daemon.pass();
  const c1 = process.cpuUsage(c0);
  return (c1.user + c1.system) / PASSES / 1000;
}

function makeBackend(b: BackendName, cfg: RunConfig) {
  return backendByName(b).make({ ...cfg, log: silent });
}

export async function fig5PassCost() {
  note("figure 5: CPU time of one detection pass");
  const rows: string[][] = [];
  const worst = same(0);
  const cfg: RunConfig = parseRunConfig(
    { "log-only": true, "no-idle-detect": true },
    onlineCpus(),
    possibleCpus().length,
  );
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
          const daemon = testDaemon(cfg, backend, silent);
          for (let run = 0; run < 3; run++) per[b].push(msPerPass(daemon));
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
    rows.push(
      row(
        `${n} threads alive`,
        s,
        3,
        `\`build/threads ${n} 120\`; 200 passes of the daemon's pass() in-process (all CPUs monitored), process.cpuUsage`,
      ),
    );
  }
  return { rows, worst };
}

/** A pass's CPU time without and with metrics (counting, rendering, the textfile written), alternated. */
export async function fig7MetricsCost() {
  note("figure 7: cost of metrics in a pass");
  const cfg: RunConfig = parseRunConfig(
    { "log-only": true, "no-idle-detect": true },
    onlineCpus(),
    possibleCpus().length,
  );
  const file = join(ROOT, "build/bench-metrics.prom");
  const per = { without: [] as number[], with: [] as number[] };
  const backend = makeBackend("task_scan", cfg);
  backend.start();
  try {
    for (let round = 0; round < 5; round++) {
      for (const mode of ["without", "with"] as const) {
        const metrics = mode === "with" ? new Metrics("bench") : undefined;
        metrics?.setBackend(backend.name);
        const daemon = testDaemon(cfg, backend, silent, {
          metrics,
          afterPass: metrics ? () => writeMetricsFile(file, metrics.render()) : undefined,
        });
        per[mode].push(msPerPass(daemon));
      }
    }
  } finally {
    backend.stop();
    rmSync(file, { force: true });
  }
  const wo = summarize(per.without);
  const w = summarize(per.with);
  const ratio = summarize(per.with.map((x, i) => (100 * x) / per.without[i]!));
  const cmd =
    "200 passes of the daemon's pass() in-process, task_scan, all CPUs, 5 rounds alternated; with = --metrics-file (counters, render, write + rename each pass)";
  figures.push({
    title: "7. Cost of metrics: one pass's CPU time (ms) without and with",
    body: table(
      ["pass", "min", "median", "max", "command"],
      [
        ["without metrics", ...fmtSummary(wo, 3), cmd],
        ["with --metrics-file", ...fmtSummary(w, 3), "same"],
        ["with / without (%)", ...fmtSummary(ratio, 1), "per round"],
      ],
    ),
  });
}
