// The daemon's life cycle with a fake machine: what start.ts acquires, in
// which order, and that every exit unwinds exactly that in reverse, for every
// backend x (debugfs mounted at start or not) x (log-only or not). The bug
// this shape fixes: the sched_debug backend unmounted debugfs before the
// HRTICK_DL restore wrote through it.
import { describe, expect, test } from "bun:test";
import type { Backend, BackendSpec } from "../../src/backends/backend";
import { BackendUnavailable } from "../../src/backends/backend";
import { BACKEND_NAMES } from "../../src/backends/registry";
import type { StateDir } from "../../src/boost/state_dir";
import { parseRunConfig } from "../../src/cli/options";
import { Lifecycle } from "../../src/daemon/lifecycle";
import { precheck, type System, startDaemon } from "../../src/daemon/start";
import { Exit } from "../../src/errors";
import { FakeBackend, FakeSched, fifo, recordingLogger } from "../helpers/fakes";

interface Machine {
  sys: System;
  /** What was done to the machine, in order. */
  events: string[];
}

/** A machine where everything works; `unavailable` backends refuse to start. */
function machine(
  debugfsMounted: boolean,
  opts: {
    unavailable?: string[];
    reservationFails?: boolean;
    deadMounted?: boolean;
    settings?: boolean;
    preemptRt?: boolean;
  } = {},
): Machine {
  const events: string[] = [];
  let mounted = debugfsMounted;
  const sched = new FakeSched();
  sched.tasks.set(0, fifo(0));
  if (opts.preemptRt) {
    // Changes to stalld's own scheduling (pid 0: the caller) show among the events.
    const set = sched.set.bind(sched);
    sched.set = (pid, attr) => {
      set(pid, attr);
      if (pid === 0) events.push(`self policy ${attr.policy}`);
    };
  }
  if (opts.reservationFails) {
    // The probes on stalld itself work (10 ms every 100 ms); a reservation (-R's 10-90 %, PREEMPT_RT's 50 %)
    // is refused.
    const set = sched.set.bind(sched);
    sched.set = (pid, attr) => {
      if (attr.periodNs === 100_000_000n && attr.runtimeNs > 10_000_000n) throw new Error("EBUSY");
      set(pid, attr);
    };
  }
  const sys: System = {
    onlineCpus: () => [0, 1],
    createPidfile: (path) => {
      events.push("create pidfile");
      return { path, remove: () => (events.push("remove pidfile"), true) };
    },
    openStateDir: () => {
      events.push("open state directory");
      return {
        recordBoost() {},
        forgetBoost() {},
        recordSetting: (name: string) => void (opts.settings && events.push(`record ${name}`)),
        forgetSetting: (name: string) => void (opts.settings && events.push(`forget ${name}`)),
        orphanSetting: (name: string) =>
          name === "debugfs" && opts.deadMounted ? { owner: { pid: 4242, starttime: 1 } } : null,
      } as unknown as StateDir;
    },
    restoreOrphans: () => 0,
    countOrphans: () => null,
    serveMetrics: () => {
      events.push("listen");
      return { stop: () => void events.push("stop listening") };
    },
    writeMetricsFile: () => {},
    lockMemory: () => {},
    placeSelf: () => {},
    preemptRt: () => opts.preemptRt ?? false,
    debugfsMounted: () => mounted,
    mountDebugfs: () => {
      mounted = true;
      events.push("mount debugfs");
    },
    unmountDebugfs: () => {
      mounted = false;
      events.push("unmount debugfs");
    },
    makeBackend: (spec: BackendSpec): Backend => {
      const b = new FakeBackend();
      b.name = spec.name;
      b.start = () => {
        if (spec.needsDebugfs && !mounted) throw new BackendUnavailable(spec.name, "debugfs not mounted");
        if (opts.unavailable?.includes(spec.name)) throw new BackendUnavailable(spec.name, "not here");
        events.push(`start ${spec.name}`);
      };
      b.stop = () => void events.push(`stop ${spec.name}`);
      return b;
    },
    openDlServers: () => {
      events.push("open DL-server reader");
      return {
        read: () => ({ kind: "none", source: "fake", cpus: new Map() }),
        close: () => void events.push("close DL-server reader"),
      };
    },
    dlServerPresent: () => false,
    lockdownMode: () => null,
    where: () => ({ initialPidNamespace: true, rtRuntimeNotWritable: null }),
    throttling: () => ({
      read: () => 950000,
      disable: () => void events.push("throttling off"),
      restore: () => void events.push("throttling on"),
    }),
    hrtick: () => ({
      adoptOrphan: () => {},
      prepare: (ns) => {
        // Written through debugfs: it must still be mounted.
        events.push(`HRTICK_DL on${mounted ? "" : " (debugfs gone!)"}`);
        return ns;
      },
      restore: () => void events.push(`HRTICK_DL off${mounted ? "" : " (debugfs gone!)"}`),
    }),
    sched,
    taskProbe: { starttime: () => null, cpuTimeNs: () => null },
    passInputs: () => ({
      nowNs: () => 0,
      idleTicks: () => new Map(),
      cpuSomeUs: () => null,
      rtThrottlingOff: () => true,
      facts: () => null,
    }),
  };
  return { sys, events };
}

/** What undoing `acquired` must do, in order. */
const UNDO: Record<string, string> = {
  "create pidfile": "remove pidfile",
  "mount debugfs": "unmount debugfs",
  "open DL-server reader": "close DL-server reader",
  "throttling off": "throttling on",
  "HRTICK_DL on": "HRTICK_DL off",
  listen: "stop listening",
};
const undoOf = (e: string) => UNDO[e] ?? e.replace(/^start /, "stop ");

function run(args: Record<string, unknown>, m: Machine) {
  const { log, lines } = recordingLogger();
  const life = new Lifecycle(log);
  const cfg = parseRunConfig({ cpu: "1", pidfile: "/run/stalld-test.pid", ...args }, [0, 1], 2);
  startDaemon(cfg, "test", m.sys, life, log);
  const held = life.held;
  const acquired = [...m.events];
  m.events.length = 0;
  life.unwind("test");
  return { held, acquired, undone: [...m.events], lines };
}

describe("start-up and shutdown", () => {
  for (const backend of BACKEND_NAMES)
    for (const mounted of [false, true])
      for (const logOnly of [false, true])
        test(`-b ${backend}, debugfs ${mounted ? "mounted" : "not mounted"} at start${logOnly ? ", -l" : ""}`, () => {
          const m = machine(mounted);
          const r = run({ backend, "log-only": logOnly }, m);
          const mounts = !mounted && (!logOnly || backend === "sched_debug");
          expect(r.acquired).toEqual([
            "create pidfile",
            ...(logOnly ? [] : ["open state directory"]),
            ...(mounts ? ["mount debugfs"] : []),
            `start ${backend}`,
            "open DL-server reader",
            ...(logOnly ? [] : ["throttling off", "HRTICK_DL on"]),
          ]);
          expect(r.undone).toEqual(
            r.acquired
              .filter((e) => e !== "open state directory")
              .map(undoOf)
              .reverse(),
          );
          expect(r.held).toEqual([
            "pidfile",
            ...(mounts ? ["debugfs mount"] : []),
            `backend ${backend}`,
            "DL-server reader",
            ...(logOnly ? [] : ["RT throttling", "HRTICK_DL", "boosts"]),
            "passes",
          ]);
          // Whatever was mounted here is unmounted; what was found mounted stays.
          expect(r.undone.includes("unmount debugfs")).toBe(mounts);
        });

  test("without -b, debugfs is mounted only when the first backend that needs it is tried", () => {
    const m = machine(false, { unavailable: ["task_scan", "queue_track"] });
    const r = run({ "log-only": true }, m);
    expect(r.acquired).toEqual(["create pidfile", "mount debugfs", "start sched_debug", "open DL-server reader"]);
    expect(r.undone).toEqual(["close DL-server reader", "stop sched_debug", "unmount debugfs", "remove pidfile"]);
  });

  test("a mount is recorded before it is made and forgotten after the unmount; a dead stalld's mount is taken over", () => {
    const m = machine(false, { settings: true });
    const r = run({}, m);
    expect(r.acquired.slice(0, 3)).toEqual(["create pidfile", "open state directory", "record debugfs"]);
    expect(r.acquired[3]).toBe("mount debugfs");
    expect(r.undone.slice(-3)).toEqual(["unmount debugfs", "forget debugfs", "remove pidfile"]);
    const dead = machine(true, { deadMounted: true, settings: true });
    const r2 = run({}, dead);
    expect(r2.held).toContain("debugfs mount");
    expect(r2.acquired).not.toContain("mount debugfs");
    expect(
      r2.lines.some((l) => l.msg === "debugfs was mounted by stalld pid 4242, which died; unmounted at exit"),
    ).toBe(true);
    expect(r2.undone).toContain("unmount debugfs");
  });

  test("the metrics listener comes before anything on the system changes, and goes last", () => {
    const m = machine(false);
    const r = run({ "metrics-listen": "9999" }, m);
    expect(r.acquired.slice(0, 4)).toEqual(["create pidfile", "open state directory", "listen", "mount debugfs"]);
    expect(r.undone.slice(-2)).toEqual(["stop listening", "remove pidfile"]);
  });

  test("a start-up that fails half-way puts back what it took, in reverse, and says why", () => {
    const m = machine(false, { reservationFails: true });
    const { log } = recordingLogger();
    const life = new Lifecycle(log);
    const cfg = parseRunConfig({ cpu: "1", "boost-all": true, reservation: "20" }, [0, 1], 2);
    expect(() => startDaemon(cfg, "test", m.sys, life, log)).toThrow(Exit);
    const acquired = [...m.events];
    m.events.length = 0;
    life.unwind("start-up failed");
    expect(acquired).toEqual([
      "open state directory",
      "mount debugfs",
      "start task_scan",
      "open DL-server reader",
      "throttling off",
      "HRTICK_DL on",
    ]);
    expect(m.events).toEqual([
      "HRTICK_DL off",
      "throttling on",
      "close DL-server reader",
      "stop task_scan",
      "unmount debugfs",
    ]);
  });

  test("PREEMPT_RT: stalld gives its main thread a DEADLINE reservation after RT throttling is off, and drops it before throttling comes back", () => {
    const m = machine(true, { preemptRt: true });
    const r = run({}, m);
    expect(r.acquired).toEqual([
      "create pidfile",
      "open state directory",
      "start task_scan",
      "open DL-server reader",
      "throttling off",
      // The boost policy's probe on stalld itself, then the reservation.
      "self policy 6",
      "self policy 1",
      "HRTICK_DL on",
      "self policy 6",
    ]);
    expect(r.held).toEqual([
      "pidfile",
      "backend task_scan",
      "DL-server reader",
      "RT throttling",
      "HRTICK_DL",
      "PREEMPT_RT reservation",
      "boosts",
      "passes",
    ]);
    // Put back to what it was (SCHED_FIFO in this fake) before throttling: the kernel refuses the write otherwise.
    expect(r.undone).toEqual([
      "self policy 1",
      "HRTICK_DL off",
      "throttling on",
      "close DL-server reader",
      "stop task_scan",
      "remove pidfile",
    ]);
    expect(r.lines.some((l) => /^PREEMPT_RT: stalld's main thread runs SCHED_DEADLINE/.test(l.msg))).toBe(true);
  });

  test("PREEMPT_RT: -R sizes the reservation, -A replaces it, -l takes none, and a refusal is a warning", () => {
    const held = (args: Record<string, unknown>, opts = {}) => run(args, machine(true, { preemptRt: true, ...opts }));
    expect(held({ reservation: "30" }).held).toContain("-R reservation");
    expect(held({ reservation: "30" }).held).not.toContain("PREEMPT_RT reservation");
    expect(held({ "aggressive-mode": true }).held).not.toContain("PREEMPT_RT reservation");
    expect(held({ "log-only": true }).held).not.toContain("PREEMPT_RT reservation");
    expect(run({}, machine(true)).held).not.toContain("PREEMPT_RT reservation");
    const refused = held({}, { reservationFails: true });
    expect(refused.held).not.toContain("PREEMPT_RT reservation");
    expect(refused.held).toContain("boosts");
    expect(refused.lines.some((l) => l.level === "warn" && /could not give itself.*EBUSY/.test(l.msg))).toBe(true);
  });

  test("SCHED_FIFO boosting (-F) on any kernel: stalld guards the timer that ends each slice with a reservation", () => {
    const r = run({ "force-fifo": true }, machine(true));
    expect(r.held).toContain("FIFO slices reservation");
    expect(r.lines.some((l) => /^SCHED_FIFO boosting: stalld's main thread runs SCHED_DEADLINE/.test(l.msg))).toBe(
      true,
    );
    expect(run({}, machine(true)).held).not.toContain("FIFO slices reservation");
    expect(run({ "force-fifo": true, reservation: "30" }, machine(true)).held).not.toContain("FIFO slices reservation");
  });

  test("in a container: no host pid namespace, or a read-only /proc/sys, is one line with the remedy", () => {
    const cfg = (extra: Record<string, unknown> = {}) => parseRunConfig({ cpu: "1", ...extra }, [0, 1], 2);
    const where = (initialPidNamespace: boolean | null, rtRuntimeNotWritable: string | null) => ({
      throttling: () => ({ read: () => 950000, disable() {}, restore() {} }),
      where: () => ({ initialPidNamespace, rtRuntimeNotWritable }),
    });
    expect(() => precheck(cfg(), where(false, null))).toThrow(/pid namespace of its own.*--pid=host.*hostPID: true/);
    expect(() => precheck(cfg({ "log-only": true }), where(false, null))).toThrow(Exit);
    expect(() => precheck(cfg(), where(true, "EROFS"))).toThrow(/cannot be written \(EROFS.*--privileged/);
    // Log-only writes nothing; a kernel that cannot say is given the benefit of the doubt.
    expect(() => precheck(cfg({ "log-only": true }), where(true, "EROFS"))).not.toThrow();
    expect(() => precheck(cfg(), where(null, null))).not.toThrow();
  });

  test("an undo that fails is said, and the ones after it still run", () => {
    const m = machine(false);
    m.sys.unmountDebugfs = () => {
      throw new Error("EBUSY");
    };
    const { log, lines } = recordingLogger();
    const life = new Lifecycle(log);
    life.push("first", () => void m.events.push("first undone"));
    life.push("broken", () => {
      throw new Error("EIO");
    });
    life.push("last", () => void m.events.push("last undone"));
    life.unwind("test");
    life.unwind("again");
    expect(m.events).toEqual(["last undone", "first undone"]);
    expect(lines.filter((l) => l.level === "error").map((l) => l.msg)).toEqual(["putting back broken failed: EIO"]);
  });
});
