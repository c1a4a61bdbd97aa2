// What the booster works with: the task to boost, where boosts are recorded,
// what it reads about a task, its clock, and what it reports.
import { sleepNs } from "../ffi/process";
import type { SchedAttr } from "../kernel/sched_attr";
import type { BoostMethod } from "./policy";

export interface BoostTarget {
  pid: number;
  /** Its process (for the JSON log fields). */
  tgid?: number;
  comm: string;
  cpu: number;
  waitedNs: number;
  /** /proc starttime at detection: guards the restore against pid reuse. */
  starttime: number;
  /** For a fair task: whether it had a slice of its own (undefined: the kernel has no such thing). */
  customSlice?: boolean;
  /** A kernel thread (PF_KTHREAD, set by the kernel): its boost starts higher (kthreadFirstRuntimeNs). */
  kthread?: boolean;
}

/** A boost as written to the state directory before it is applied (state_dir.ts). */
export interface BoostRecordFields {
  pid: number;
  starttime: number;
  comm: string;
  cpu: number;
  method: BoostMethod;
  saved: SchedAttr;
  applied: SchedAttr;
}

/** Where boosts are written before they are applied, so a crash leaves nothing boosted for good. */
export interface BoostRecords {
  recordBoost(r: BoostRecordFields): void;
  forgetBoost(pid: number, starttime: number): void;
}

/** What the booster reads about a task: its identity, the CPU time it got, its state. */
export interface TaskProbe {
  /** /proc starttime, null when the pid is gone: guards restores against pid reuse. */
  starttime(pid: number): number | null;
  /** CPU time used so far (ns), null when unknown. */
  cpuTimeNs(pid: number): number | null;
  /** /proc state letter (R, S, D, ...), null when gone; without it a boost never climbs. */
  state?(pid: number): string | null;
  /** The CPU it is on or last ran on (/proc stat field 39), null when unknown. */
  cpu?(pid: number): number | null;
  /** State and CPU in one read (a look's cost), null when gone; where missing, state() and cpu(). */
  stateAndCpu?(pid: number): { state: string; cpu: number } | null;
}

export interface Timers {
  set(fn: () => void, ms: number): ReturnType<typeof setTimeout>;
  clear(t: ReturnType<typeof setTimeout>): void;
  nowMs(): number;
  /** Blocks for a short slice (at most the 1 ms runtime limit): timers are too coarse for 8-1000 us. */
  sleepNs(ns: number): void;
}

export const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (t) => clearTimeout(t),
  nowMs: () => performance.now(),
  sleepNs: (ns) => sleepNs(ns),
};

/** What happened, for metrics. */
export interface BoostEvents {
  boosted(t: BoostTarget, saved: SchedAttr): void;
  failed(t: BoostTarget, code: string): void;
  restored(t: BoostTarget): void;
  /** A boost climbed a rung (escalation.ts). */
  raised?(t: BoostTarget): void;
  /** A boost set again because it ran nothing while queued (booster.ts rearm). */
  rearmed?(t: BoostTarget): void;
  /** A boost, or a raise, the per-CPU bound left out (cpu_share.ts). */
  bounded?(t: BoostTarget, what: "boost" | "raise"): void;
}
