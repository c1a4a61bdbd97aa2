// How a boost is made, behind one interface. A policy says where a boost
// starts and what comes above it when the task still starves (escalation),
// what it sets on the task, what stalld tries on itself to know the kernel
// allows it, and how it is announced. The booster applies a policy's rungs;
// crash recovery and the booster ask the same question, "is this still our
// boost?", through ownership(). Policies are listed in policies.ts.
import {
  describeAttr,
  isFairPolicy,
  SCHED_DEADLINE,
  SCHED_FIFO,
  SCHED_FLAG_RESET_ON_FORK,
  type SchedAttr,
} from "../kernel/sched_attr";

/** The original's SCHED_FIFO boost priority (also -A's priority for stalld itself). */
export const FIFO_BOOST_PRIORITY = 98;

export interface BoostParams {
  /** -r, or one tick where HRTICK_DL cannot be turned on (hrtick.ts). */
  runtimeNs: bigint;
  periodNs: bigint;
  durationMs: number;
}

/**
 * How strong a boost is: SCHED_DEADLINE with this runtime per period, or
 * (sliced: the FIFO emulation, -F) SCHED_FIFO for this runtime of every
 * period and the task's own policy for the rest.
 */
export interface Rung {
  sliced: boolean;
  runtimeNs: bigint;
}

export type BoostMethod = "deadline" | "fifo";

export interface BoostPolicy {
  /** As recorded in the state directory, and in the original's "boost_with_<name> failed" line. */
  readonly name: BoostMethod;
  /** Set on stalld itself (and put back) at start: the kernel allows this policy. */
  readonly probe: SchedAttr;
  /** The start-up line, with the original's phrase. */
  announce(forced: boolean): string;
  /** Where a boost starts. */
  firstRung(p: BoostParams): Rung;
  /** The rung above `r` for a task a whole boost gave nothing; null: none (or no escalation at all). */
  nextRung(r: Rung, p: BoostParams): Rung | null;
  /** Whether the booster raises a boost that leaves the task in debt or with nothing (escalation.ts). */
  readonly escalates: boolean;
  /** What a rung sets while it is on. */
  attr(saved: SchedAttr, r: Rung, p: BoostParams): SchedAttr;
}

/**
 * What a rung sets: SCHED_DEADLINE runtime/period, or SCHED_FIFO 98 for a
 * sliced rung. RESET_ON_FORK: a DEADLINE task that forks gets EAGAIN without it.
 */
export function rungAttr(saved: SchedAttr, r: Rung, p: BoostParams): SchedAttr {
  const base = { flags: SCHED_FLAG_RESET_ON_FORK, nice: saved.nice };
  if (r.sliced)
    return { ...base, policy: SCHED_FIFO, priority: FIFO_BOOST_PRIORITY, runtimeNs: 0n, deadlineNs: 0n, periodNs: 0n };
  return {
    ...base,
    policy: SCHED_DEADLINE,
    priority: 0,
    runtimeNs: r.runtimeNs,
    deadlineNs: p.periodNs,
    periodNs: p.periodNs,
  };
}

/** "SCHED_DEADLINE 20000/1000000000 ns", "SCHED_FIFO prio 98 for 50000 ns every 1000000000 ns". */
export function describeRung(attr: SchedAttr, r: Rung, p: BoostParams): string {
  return `${describeAttr(attr)}${r.sliced ? ` for ${r.runtimeNs} ns every ${p.periodNs} ns` : ""}`;
}

/** What a boost wrote: enough to tell whether the task still carries it. */
export interface BoostMark {
  saved: SchedAttr;
  applied: SchedAttr;
}

/**
 * "boost": the task carries the boost (or, DEADLINE, a smaller runtime of the
 * same period: a raise is recorded before it is applied, so a crash in
 * between leaves the rung below); "own": it is back on its own policy (a
 * sliced boost between slices); "changed": the task itself, or someone else,
 * changed it. Whatever the answer, the saved attributes go back at the end
 * (a boost leaves nothing behind, whatever the task did): this only words
 * the log line.
 */
export type Ownership = "boost" | "own" | "changed";

export function ownership(m: BoostMark, now: SchedAttr): Ownership {
  const carries = (a: SchedAttr) =>
    a.policy === SCHED_DEADLINE
      ? now.policy === SCHED_DEADLINE && now.runtimeNs <= a.runtimeNs && now.periodNs === a.periodNs
      : now.policy === a.policy && now.priority === a.priority;
  if (carries(m.applied)) return "boost";
  const own =
    now.policy === m.saved.policy &&
    now.priority === m.saved.priority &&
    (!isFairPolicy(now.policy) || now.nice === m.saved.nice);
  return own ? "own" : "changed";
}
