// One detection pass of the daemon against a fake backend: confirmation from
// /proc, ghosts forgotten once, log-only, map-full reporting.
import { describe, expect, test } from "bun:test";
import { parseRunConfig } from "../../src/cli/options";
import type { RunConfig } from "../../src/config";
import { MAX_BOOSTS_PER_PASS } from "../../src/daemon/daemon";
import type { DlServerView } from "../../src/kernel/dl_server";
import type { TaskStat } from "../../src/kernel/proc";
import { FakeBackend, FakeSched, FakeTimers, fifo, recordingLogger, testBooster, testDaemon } from "../helpers/fakes";

const cfg: RunConfig = parseRunConfig({ "log-only": true, "no-idle-detect": true, cpu: "1" }, [0, 1], 2);
const GONE = 2 ** 22 + 7; // above any pid_max

const NO_DL: DlServerView = { kind: "none", source: "fake kernel", cpus: new Map() };
/** CPU 1's DL-server with this runtime (ms per 1000 ms). */
const dlOn = (runtimeMs: number): DlServerView => ({
  kind: "known",
  source: "fake",
  cpus: new Map([[1, { cpu: 1, runtimeNs: runtimeMs * 1e6, periodNs: 1e9, active: true }]]),
});

function setup(dl: DlServerView = NO_DL, config: RunConfig = cfg) {
  const backend = new FakeBackend();
  const { log, lines } = recordingLogger();
  let now = 0;
  return {
    backend,
    lines,
    daemon: testDaemon(config, backend, log, { dl, nowNs: () => (now += 1e9) }),
  };
}

describe("a detection pass", () => {
  test("a starving task that exists and is runnable is logged with the original's phrase and details", () => {
    const { backend, lines, daemon } = setup();
    // This test process is running, so /proc says R: a real, confirmable task.
    backend.waiters = [{ pid: process.pid, tgid: process.pid, cpu: 1, prio: 98, policy: 1, waitedNs: 21.5e9 }];
    const next = daemon.pass();
    const hit = lines.filter((l) => l.msg.includes(`-${process.pid} starved on CPU 1 for 21 seconds`));
    expect(hit).toHaveLength(1);
    expect(hit[0]!.msg).toContain("waited 21.500 s");
    expect(hit[0]!.msg).toMatch(/behind \S+-\d+ SCHED_FIFO prio 10\)/);
    // log-only: nothing boosted, and the next pass is a granularity away.
    expect(daemon.boosting).toBe(0);
    expect(lines.some((l) => l.msg.startsWith("boosted"))).toBe(false);
    expect(next).toBe(5e9);
  });

  test("a ghost (no such task any more) is forgotten and logged once, at debug level", () => {
    const { backend, lines, daemon } = setup();
    backend.waiters = [{ pid: GONE, tgid: GONE, cpu: 1, prio: 98, policy: 1, waitedNs: 30e9 }];
    daemon.pass();
    daemon.pass();
    daemon.pass();
    expect(backend.forgotten).toEqual([GONE, GONE, GONE]);
    const about = lines.filter((l) => l.msg.includes(String(GONE)));
    expect(about).toHaveLength(1);
    expect(about[0]!.level).toBe("debug");
    expect(lines.some((l) => l.msg.includes("starved"))).toBe(false);
  });

  test("a full map is reported as a warning with the count, once per increase", () => {
    const { backend, lines, daemon } = setup();
    backend.dropped = 3;
    daemon.pass();
    daemon.pass();
    backend.dropped = 5;
    daemon.pass();
    const warns = lines.filter((l) => l.level === "warn").map((l) => l.msg);
    expect(warns).toEqual([
      "3 task(s) could not be tracked: the fake map is full (3 in all)",
      "2 task(s) could not be tracked: the fake map is full (5 in all)",
    ]);
  });

  test("-i/-I: each ignored task is said once with the original's phrase; a reused pid is a new task", () => {
    const backend = new FakeBackend();
    const { log, lines } = recordingLogger();
    const config = parseRunConfig(
      {
        "log-only": true,
        "no-idle-detect": true,
        cpu: "1",
        "ignore-threads": "^ksoftirqd",
        "ignore-processes": "dpdk",
      },
      [0, 1],
      2,
    );
    let starttime = 5;
    const facts = (pid: number) => ({
      stat: {
        pid,
        comm: pid === 10 ? "ksoftirqd/1" : "lcore-worker-2",
        state: "R",
        cpu: 1,
        rawComm: pid === 10 ? "ksoftirqd/1" : "lcore-worker-2",
        flags: 0,
        starttime,
        nice: 0,
        rtPriority: 1,
        policy: 1,
        prio: 98,
      },
      processName: pid === 51 ? "dpdk-testpmd" : "bash",
    });
    const daemon = testDaemon(config, backend, log, { facts });
    backend.waiters = [10, 51].map((pid) => ({
      pid,
      tgid: pid === 51 ? 50 : pid,
      cpu: 1,
      prio: 98,
      policy: 1,
      waitedNs: 30e9,
    }));
    daemon.pass();
    daemon.pass();
    starttime = 9;
    daemon.pass();
    expect(lines.filter((l) => l.msg.startsWith("Ignoring")).map((l) => l.msg)).toEqual([
      "Ignoring the thread ksoftirqd/1 from consideration for boosting (pid 10)",
      "Ignoring the thread lcore-worker-2 (spawned by dpdk-testpmd) from consideration for boosting (pid 51)",
      "Ignoring the thread ksoftirqd/1 from consideration for boosting (pid 10)",
      "Ignoring the thread lcore-worker-2 (spawned by dpdk-testpmd) from consideration for boosting (pid 51)",
    ]);
    expect(lines.some((l) => l.msg.includes("starved"))).toBe(false);
  });

  describe("the DL-server", () => {
    // This test process is SCHED_OTHER: a real fair task /proc confirms.
    const fair = { pid: process.pid, tgid: process.pid, cpu: 1, prio: 120, policy: 0, waitedNs: 25e9 };

    test("a fair task on a CPU whose DL-server has runtime is left to it, said once per task", () => {
      const { backend, lines, daemon } = setup(dlOn(50));
      backend.waiters = [fair];
      daemon.pass();
      daemon.pass();
      const left = lines.filter((l) => l.msg.includes(`-${process.pid} starved on CPU 1`));
      expect(left).toHaveLength(1);
      expect(left[0]!.msg).toMatch(
        /starved on CPU 1 for 25 seconds: left to the DL-server \(the DL-server gives fair tasks 50\/1000 ms on CPU 1; --boost-all boosts it\)$/,
      );
    });

    test("the same task is handled as before with --boost-all, with the server's runtime at 0, or with no server", () => {
      for (const [dl, config] of [
        [
          dlOn(50),
          parseRunConfig({ "log-only": true, "no-idle-detect": true, cpu: "1", "boost-all": true }, [0, 1], 2),
        ],
        [dlOn(0), cfg],
        [NO_DL, cfg],
        [{ kind: "unknown", source: "debugfs: EPERM", cpus: new Map() } as DlServerView, cfg],
      ] as const) {
        const { backend, lines, daemon } = setup(dl, config);
        backend.waiters = [fair];
        daemon.pass();
        const hit = lines.filter((l) => l.msg.includes(`-${process.pid} starved on CPU 1`));
        expect(hit).toHaveLength(1);
        expect(hit[0]!.msg).not.toContain("DL-server");
      }
    });

    test("the start-up line says what the server covers and what is left to it", () => {
      const on = setup(dlOn(50));
      on.daemon.start();
      on.daemon.stop();
      expect(on.lines.find((l) => l.msg.startsWith("DL-server ("))?.msg).toBe(
        "DL-server (fake): CPU 1 50/1000 ms active; starving fair tasks there are left to it (--boost-all boosts them too)",
      );
      const none = setup(NO_DL);
      none.daemon.start();
      none.daemon.stop();
      expect(none.lines.some((l) => l.msg === "DL-server: none in this kernel; every starving task is stalld's")).toBe(
        true,
      );
    });
  });

  describe("idle detection and adaptive mode", () => {
    function withIdle(
      flags: Record<string, unknown>,
      throttlingOff: boolean,
      someUs: () => number | null = () => null,
    ) {
      const backend = new FakeBackend();
      let snapshots = 0;
      const snap = backend.snapshot.bind(backend);
      backend.snapshot = () => {
        snapshots++;
        return snap();
      };
      const { log, lines } = recordingLogger();
      let idle = 0;
      let now = 0;
      const daemon = testDaemon(parseRunConfig({ "log-only": true, cpu: "1", ...flags }, [0, 1], 2), backend, log, {
        idleTicks: () => new Map([[1, (idle += 1)]]),
        cpuSomeUs: someUs,
        nowNs: () => (now += 1e9),
        rtThrottlingOff: () => throttlingOff,
      });
      return { daemon, lines, backend, snapshots: () => snapshots };
    }

    test("a CPU that idled between passes skips the snapshot, only while RT throttling is off", () => {
      const off = withIdle({}, true);
      off.daemon.pass();
      off.daemon.pass();
      off.daemon.pass();
      expect(off.snapshots()).toBe(1);
      expect(off.daemon.skippedPasses).toBe(2);
      const on = withIdle({}, false);
      on.daemon.pass();
      on.daemon.pass();
      on.daemon.pass();
      expect(on.snapshots()).toBe(3);
      expect(on.lines.filter((l) => l.msg.includes("idle detection paused"))).toHaveLength(1);
    });

    test("PSI showing no task waited through the interval skips the snapshot even while RT throttling is on; -N looks every time", () => {
      let some = 0;
      const quiet = withIdle({}, false, () => (some += 1000));
      quiet.daemon.pass();
      quiet.daemon.pass();
      quiet.daemon.pass();
      expect(quiet.snapshots()).toBe(1);
      expect(
        quiet.lines.some((l) =>
          l.msg.startsWith("no task waited for a CPU through the interval (PSI) since the last pass: snapshot skipped"),
        ),
      ).toBe(true);
      const busy = withIdle({}, false, () => (some += 600_000));
      busy.daemon.pass();
      busy.daemon.pass();
      expect(busy.snapshots()).toBe(2);
      const n = withIdle({ "no-idle-detect": true }, true, () => 0);
      n.daemon.pass();
      n.daemon.pass();
      expect(n.snapshots()).toBe(2);
    });

    test("a CPU that idled since the last pass is not judged now, with the original's line; the next pass judges it", () => {
      const backend = new FakeBackend();
      backend.waiters = [{ pid: process.pid, tgid: process.pid, cpu: 1, prio: 98, policy: 1, waitedNs: 30e9 }];
      const { log, lines } = recordingLogger();
      let cpu1 = 0;
      let now = 0;
      const daemon = testDaemon(parseRunConfig({ "log-only": true, cpu: "1,2" }, [0, 1, 2], 3), backend, log, {
        // CPU 1 idles between the first two passes only; CPU 2 never does.
        idleTicks: () =>
          new Map([
            [1, (cpu1 = Math.min(cpu1 + 1, 2))],
            [2, 5],
          ]),
        nowNs: () => (now += 1e9),
        rtThrottlingOff: () => true,
      });
      daemon.pass();
      expect(lines.filter((l) => l.msg.includes("starved on CPU 1"))).toHaveLength(1);
      daemon.pass();
      expect(lines.some((l) => l.level === "debug" && l.msg === "cpu 1 had idle time! skipping next phase")).toBe(true);
      expect(lines.filter((l) => l.msg.includes("starved on CPU 1"))).toHaveLength(1);
      daemon.pass();
      expect(lines.filter((l) => l.msg.includes("starved on CPU 1"))).toHaveLength(2);
    });

    test("-M reports a waiter past half the threshold once per waiting episode, with the original's phrase", () => {
      const { daemon, lines, backend } = withIdle({ "adaptive-mode": true, "no-idle-detect": true }, true);
      backend.waiters = [{ pid: process.pid, tgid: process.pid, cpu: 1, prio: 98, policy: 1, waitedNs: 11e9 }];
      const next = daemon.pass();
      // The snapshot is taken at a fixed time: the same wait means the same episode.
      daemon.pass();
      const early = lines.filter((l) => l.msg.includes("might starve"));
      expect(early).toHaveLength(1);
      expect(early[0]!.msg).toMatch(new RegExp(`-${process.pid} might starve on CPU 1 \\(waiting for 11 seconds\\)`));
      // The next pass is when it would cross the threshold (20 s), not later.
      expect(next).toBe(5e9);
      backend.waiters = [{ ...backend.waiters[0]!, waitedNs: 10.5e9 }];
      daemon.pass();
      expect(lines.filter((l) => l.msg.includes("might starve"))).toHaveLength(2);
    });
  });
});

describe("a pass in a flood", () => {
  test("makes at most MAX_BOOSTS_PER_PASS boosts; the rest wait for the next pass, said once per pass", () => {
    const { log, lines } = recordingLogger();
    const sched = new FakeSched();
    const timers = new FakeTimers();
    const probe = { starttime: () => 777, cpuTimeNs: () => 0, state: () => "R", cpu: () => 1 };
    const booster = testBooster(
      { method: "deadline", runtimeNs: 20_000n, periodNs: 1_000_000_000n, durationMs: 3000 },
      log,
      probe,
      {
        ops: sched,
        timers,
      },
    );
    const backend = new FakeBackend();
    const n = MAX_BOOSTS_PER_PASS + 8;
    for (let i = 0; i < n; i++) {
      const pid = 100_000 + i;
      sched.tasks.set(pid, fifo(10));
      backend.waiters.push({ pid, tgid: pid, cpu: 1, prio: 89, policy: 1, waitedNs: 30e9 - i });
    }
    const stat = (pid: number): TaskStat => ({
      pid,
      comm: "flood",
      rawComm: "flood",
      flags: 0,
      state: "R",
      cpu: 1,
      starttime: 777,
      nice: 0,
      rtPriority: 10,
      policy: 1,
      prio: 89,
    });
    const running = parseRunConfig({ "no-idle-detect": true, cpu: "1" }, [0, 1], 2);
    const daemon = testDaemon(running, backend, log, {
      booster,
      facts: (pid) => ({ stat: stat(pid), processName: null }),
    });
    daemon.pass();
    expect(booster.count).toBe(MAX_BOOSTS_PER_PASS);
    // The longest-waiting first.
    expect(booster.isBoosted(100_000)).toBe(true);
    expect(booster.isBoosted(100_000 + n - 1)).toBe(false);
    expect(lines.filter((l) => l.msg.includes("wait for a later pass: a pass makes at most"))).toHaveLength(1);
    expect(lines.some((l) => l.msg.startsWith(`8 starving task(s) wait for a later pass`))).toBe(true);
    daemon.pass();
    expect(booster.count).toBe(n);
  });
});
