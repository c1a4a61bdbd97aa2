// Scheduling changes stalld makes to itself: the -R reservation and -A's FIFO
// priority. They apply to the main thread (tid 0 = the caller), which runs
// every pass and every boost; each returns its undo, which the lifecycle runs
// before RT throttling is put back (a DEADLINE stalld makes the kernel refuse
// sched_rt_runtime_us writes with EBUSY).
import {
  describeAttr,
  SCHED_DEADLINE,
  SCHED_FLAG_RESET_ON_FORK,
  type SchedAttr,
  type SchedOps,
} from "../kernel/sched_attr";
import type { Logger } from "../log/logger";
import { fifo } from "./policies/fifo";

const SELF = 0;
/** Period of stalld's own -R reservation. */
export const RESERVATION_PERIOD_NS = 100_000_000n;

/** Sets `attr` on stalld's main thread; returns what puts the old attributes back. */
function setOnSelf(ops: SchedOps, attr: SchedAttr, log: Logger): () => void {
  const saved = ops.get(SELF);
  ops.set(SELF, attr);
  return () => {
    ops.set(SELF, saved);
    log.info(`stalld's own scheduling put back to ${describeAttr(saved)}`);
  };
}

function reservation(pct: number): SchedAttr {
  return {
    policy: SCHED_DEADLINE,
    flags: SCHED_FLAG_RESET_ON_FORK,
    nice: 0,
    priority: 0,
    runtimeNs: (RESERVATION_PERIOD_NS * BigInt(pct)) / 100n,
    deadlineNs: RESERVATION_PERIOD_NS,
    periodNs: RESERVATION_PERIOD_NS,
  };
}

/** -R: a DEADLINE reservation of `pct` % of a CPU for stalld's main thread. Throws on failure. */
export function applyReservation(ops: SchedOps, pct: number, log: Logger): () => void {
  const attr = reservation(pct);
  const undo = setOnSelf(ops, attr, log);
  log.info(`stalld runs with a SCHED_DEADLINE reservation of ${pct} % (${describeAttr(attr)})`);
  return undo;
}

/**
 * Share of a CPU stalld's main thread reserves on its own on PREEMPT_RT: a
 * cap, not a use (a pass over 10,000 threads costs 0.02-29 ms by backend).
 * 20 % was tried in the lab: under TCG a burst of boosts outran it and
 * waited for the next period (victims' longest gaps 3.5-4.9 s, 3.1-3.5 s at 50 %).
 */
export const RT_TIMERS_RESERVATION_PCT = 50;

/** Why stalld's main thread guards its own timers with a DEADLINE reservation. */
export type GuardReason = "preempt_rt" | "fifo_slices";

const GUARD_WHY: Record<GuardReason, string> = {
  preempt_rt:
    "PREEMPT_RT: stalld's main thread runs %s so that its own timers expire in hard interrupt context, not in ktimers",
  fifo_slices:
    "SCHED_FIFO boosting: stalld's main thread runs %s so that no RT task on its CPU (a boosted one that moved " +
    "there included) can hold off the timer that ends a FIFO slice",
};

/**
 * Without -R or -A, stalld's main thread reserves a share of its CPU:
 *
 * - On PREEMPT_RT the timers a SCHED_OTHER task sleeps on expire in
 *   ktimers/N (SCHED_FIFO 1); those of a DEADLINE task expire in hard
 *   interrupt context, and DEADLINE outranks any busy loop on stalld's CPU.
 *   The lab saw ktimers/0 held up for 13-18 s while stalld's boosts on CPU 1
 *   were due to be raised and restored: a SCHED_OTHER stalld slept through
 *   it. Lab scenario 7 holds ktimers/0 off with a FIFO-2 loop on CPU 0: a
 *   victim's longest gap 8.9 s without the reservation, 3.3-3.8 s with.
 * - With SCHED_FIFO boosting (-F) the kernel does not bound a slice: stalld's
 *   timer ends it. A boosted thread may move itself onto stalld's CPU (its own
 *   affinity needs no privilege) and, as FIFO 98 with RT throttling off, hold
 *   a SCHED_OTHER stalld off for good; DEADLINE preempts it.
 *
 * The threads stalld starts later stay SCHED_OTHER (reset on fork). It needs
 * RT throttling off (the kernel's DEADLINE admission refuses a task pinned to
 * part of the root domain otherwise); a refusal leaves stalld as it was, and
 * says so. Returns the undo, or null.
 */
export function applyGuardReservation(ops: SchedOps, why: GuardReason, log: Logger): (() => void) | null {
  const attr = reservation(RT_TIMERS_RESERVATION_PCT);
  try {
    const undo = setOnSelf(ops, attr, log);
    log.info(`${GUARD_WHY[why].replace("%s", describeAttr(attr))} (-R sizes it, -A makes it SCHED_FIFO instead)`);
    return undo;
  } catch (e) {
    const what =
      why === "preempt_rt"
        ? "its timers expire in ktimers, and a held-up ktimers on its CPU delays its passes"
        : "a FIFO slice ends only when stalld gets its CPU";
    log.warn(`stalld could not give itself a SCHED_DEADLINE reservation (${(e as Error).message}): ${what}`);
    return null;
  }
}

/** -A: stalld's main thread runs SCHED_FIFO 98, so RT tasks below that on its CPU cannot delay a pass. Throws. */
export function applyAggressive(ops: SchedOps, log: Logger): () => void {
  // What the FIFO boost policy probes with: SCHED_FIFO at the boost priority.
  const attr: SchedAttr = { ...fifo.probe };
  const undo = setOnSelf(ops, attr, log);
  log.info(`aggressive mode: stalld runs ${describeAttr(attr)} and takes a full snapshot every pass`);
  return undo;
}
