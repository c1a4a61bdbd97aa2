// Prometheus text exposition: names, types, labels, escaping; what a pass counts.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Backend, BackendStats, Snapshot } from "../../src/backends/backend";
import { parseRunConfig } from "../../src/cli/options";
import { Metrics, writeMetricsFile } from "../../src/metrics/metrics";
import { recordingLogger, testDaemon } from "../helpers/fakes";
import { parseExposition } from "../helpers/prometheus";

function metricsFor(version: string, backend: string): Metrics {
  const m = new Metrics(version);
  m.setBackend(backend);
  return m;
}

describe("Metrics", () => {
  test("every family has HELP and TYPE; counters start at 0; labels are escaped", () => {
    const m = metricsFor("0.6.0", "task_scan");
    m.failures.add(1, { errno: 'E"X\\' });
    const text = m.render();
    expect(text.endsWith("\n")).toBe(true);
    for (const name of [
      "stalld_passes_total",
      "stalld_boosts_total",
      "stalld_boost_failures_total",
      "stalld_left_to_dl_server_total",
      "stalld_restores_total",
      "stalld_starving_detected_total",
      "stalld_dropped_tasks_total",
    ]) {
      expect(text).toContain(`# TYPE ${name} counter`);
    }
    expect(text).toContain('stalld_info{version="0.6.0",backend="task_scan"} 1');
    expect(text).toContain('stalld_boost_failures_total{errno="E\\"X\\\\"} 1');
    expect(parseExposition(text).get("stalld_passes_total")).toBe(0);
  });

  test("boost events: by the policy before the boost, failures by errno, restores", () => {
    const m = metricsFor("x", "y");
    const ev = m.boostEvents();
    const t = { pid: 1, comm: "c", cpu: 1, waitedNs: 0, starttime: 1 };
    ev.boosted(t, { policy: 1, flags: 0n, nice: 0, priority: 1, runtimeNs: 0n, deadlineNs: 0n, periodNs: 0n });
    ev.boosted(t, { policy: 0, flags: 0n, nice: 0, priority: 0, runtimeNs: 0n, deadlineNs: 0n, periodNs: 0n });
    ev.failed(t, "EPERM");
    ev.restored(t);
    const v = parseExposition(m.render());
    expect(v.get('stalld_boosts_total{policy="SCHED_FIFO"}')).toBe(1);
    expect(v.get('stalld_boosts_total{policy="SCHED_OTHER"}')).toBe(1);
    expect(v.get('stalld_boost_failures_total{errno="EPERM"}')).toBe(1);
    expect(v.get("stalld_restores_total")).toBe(1);
  });

  test("a pass counts itself, the starving task, each CPU's longest wait; the file is replaced whole", () => {
    const backend: Backend = {
      name: "fake",
      kernelDatedWaits: true,
      start() {},
      snapshot: (): Snapshot => ({
        nowNs: 0n,
        waiters: [{ pid: process.pid, tgid: process.pid, cpu: 1, prio: 98, policy: 1, waitedNs: 25e9 }],
        running: [undefined, { cpu: 1, pid: 1, tgid: 1, prio: 89, policy: 1, ranNs: 0 }],
      }),
      forget() {},
      stats: (): BackendStats => ({ dropped: 2 }),
      stop() {},
    };
    const dir = mkdtempSync(join(tmpdir(), "stalld-metrics-"));
    try {
      const m = metricsFor("x", "fake");
      const file = join(dir, "stalld.prom");
      const cfg = parseRunConfig({ "log-only": true, "no-idle-detect": true, cpu: "0,1" }, [0, 1], 2);
      const d = testDaemon(cfg, backend, recordingLogger().log, {
        metrics: m,
        afterPass: () => writeMetricsFile(file, m.render()),
      });
      d.pass();
      d.pass();
      const v = parseExposition(readFileSync(file, "utf8"));
      expect(v.get("stalld_passes_total")).toBe(2);
      expect(v.get("stalld_starving_detected_total")).toBe(2);
      expect(v.get('stalld_longest_wait_seconds{cpu="1"}')).toBe(25);
      expect(v.get('stalld_longest_wait_seconds{cpu="0"}')).toBe(0);
      expect(v.get("stalld_dropped_tasks_total")).toBe(2);
      expect(v.get("stalld_pass_duration_seconds_sum")).toBeGreaterThan(0);
      expect(readdirSync(dir)).toEqual(["stalld.prom"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
