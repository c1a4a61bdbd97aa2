// Fakes for unit tests: a logger that records lines, timers on a fake clock,
// sched_getattr/setattr on an in-memory task table, a backend that returns
// what the test sets, and a daemon built on them.

import type { Backend, BackendStats, Snapshot, Waiter } from "../../src/backends/backend";
import { Booster, type BoosterOptions } from "../../src/boost/booster";
import { policyNamed } from "../../src/boost/policies";
import type { BoostMethod, BoostParams } from "../../src/boost/policy";
import type { TaskProbe, Timers } from "../../src/boost/types";
import type { RunConfig } from "../../src/config";
import { Daemon, type PassInputs, procPassInputs } from "../../src/daemon/daemon";
import { quietGateFor } from "../../src/daemon/quiet_gate";
import { SysError } from "../../src/ffi/errno";
import { type DlServerView, DlServerWatch } from "../../src/kernel/dl_server";
import type { SchedAttr, SchedOps } from "../../src/kernel/sched_attr";
import type { LogEntry, Logger } from "../../src/log/logger";
import type { Metrics } from "../../src/metrics/metrics";

export interface Recorded {
  level: string;
  msg: string;
}

export function recordingLogger(): { log: Logger; lines: Recorded[] } {
  const lines: Recorded[] = [];
  const at =
    (level: string) =>
    (e: LogEntry): void => {
      lines.push({ level, msg: typeof e === "string" ? e : e.message });
    };
  const log: Logger = {
    error: at("error"),
    warn: at("warn"),
    info: at("info"),
    debug: at("debug"),
    trace: at("trace"),
  };
  return { log, lines };
}

export class FakeTimers implements Timers {
  now = 0;
  private seq = 0;
  private pending = new Map<number, { at: number; fn: () => void }>();

  set(fn: () => void, ms: number) {
    const id = ++this.seq;
    this.pending.set(id, { at: this.now + ms, fn });
    return id as unknown as ReturnType<typeof setTimeout>;
  }
  clear(t: ReturnType<typeof setTimeout>) {
    this.pending.delete(t as unknown as number);
  }
  nowMs() {
    return this.now;
  }
  /** Blocking sleeps (FIFO slices) move the clock too. */
  slept: number[] = [];
  sleepNs(ns: number) {
    this.slept.push(ns);
    this.now += ns / 1e6;
  }
  get size() {
    return this.pending.size;
  }
  /** Moves the clock, firing due timers in order. */
  advance(ms: number) {
    const end = this.now + ms;
    for (;;) {
      const due = [...this.pending.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.pending.delete(due[0]);
      // A callback that took time (now moved on) does not turn the clock back.
      this.now = Math.max(this.now, due[1].at);
      due[1].fn();
    }
    this.now = Math.max(this.now, end);
  }
}

export class FakeSched implements SchedOps {
  tasks = new Map<number, SchedAttr>();
  sets: { pid: number; attr: SchedAttr }[] = [];
  /** errno to throw on the next get/set of a pid. */
  failGet = new Map<number, number>();
  failSet = new Map<number, number>();

  get(pid: number): SchedAttr {
    const e = this.failGet.get(pid);
    if (e) throw new SysError("sched_getattr", e);
    const a = this.tasks.get(pid);
    if (!a) throw new SysError("sched_getattr", 3);
    return { ...a };
  }
  set(pid: number, attr: SchedAttr): void {
    const e = this.failSet.get(pid);
    if (e) throw new SysError("sched_setattr", e);
    if (!this.tasks.has(pid)) throw new SysError("sched_setattr", 3);
    this.sets.push({ pid, attr: { ...attr } });
    this.tasks.set(pid, { ...attr });
  }
}

export const fifo = (priority: number, flags = 0n): SchedAttr => ({
  policy: 1,
  flags,
  nice: 0,
  priority,
  runtimeNs: 0n,
  deadlineNs: 0n,
  periodNs: 0n,
});

/** A Booster as the tests describe it: the policy by name with its parameters, then the old argument order. */
export function testBooster(
  p: { method: BoostMethod } & BoostParams,
  log: Logger,
  probe: TaskProbe,
  opts: { ops: SchedOps } & BoosterOptions,
): Booster {
  const { method, ...params } = p;
  return new Booster(policyNamed(method), params, opts.ops, probe, log, opts);
}

/** A backend whose snapshot is what the test sets: a FIFO hog (prio 89) runs on CPU 1. */
export class FakeBackend implements Backend {
  name = "fake";
  kernelDatedWaits = true;
  waiters: Waiter[] = [];
  forgotten: number[] = [];
  dropped = 0;
  start() {}
  stop() {}
  snapshot(): Snapshot {
    const hog = { cpu: 1, pid: 1, tgid: 1, prio: 89, policy: 1, ranNs: 1e11 };
    return { nowNs: 100_000_000_000n, waiters: this.waiters, running: [undefined, hog] };
  }
  forget(pid: number) {
    this.forgotten.push(pid);
  }
  stats(): BackendStats {
    return { dropped: this.dropped };
  }
}

const NO_DL_SERVER: DlServerView = { kind: "none", source: "fake kernel", cpus: new Map() };

/** A Daemon over a backend, with /proc facts and fakes for the rest (no DL-server, RT throttling off, never idle). */
export function testDaemon(
  cfg: RunConfig,
  backend: Backend,
  log: Logger,
  opts: Partial<PassInputs> & {
    dl?: DlServerView;
    booster?: Booster | null;
    metrics?: Metrics;
    afterPass?: () => void;
  } = {},
): Daemon {
  const { dl = NO_DL_SERVER, booster = null, metrics, afterPass, ...inputs } = opts;
  return new Daemon(
    cfg,
    {
      backend,
      booster,
      quietGate: quietGateFor(cfg, backend.kernelDatedWaits, 2),
      dlServers: new DlServerWatch(() => dl),
      inputs: {
        ...procPassInputs({
          nowNs: () => 0,
          idleTicks: () => new Map(),
          cpuSomeUs: () => null,
          rtThrottlingOff: () => true,
        }),
        ...inputs,
      },
      metrics,
      afterPass,
    },
    log,
  );
}
