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

/** -R: a DEADLINE reservation of `pct` % of a CPU for stalld's main thread. Throws on failure. */
export function applyReservation(ops: SchedOps, pct: number, log: Logger): () => void {
  const runtimeNs = (RESERVATION_PERIOD_NS * BigInt(pct)) / 100n;
  const attr: SchedAttr = {
    policy: SCHED_DEADLINE,
    flags: SCHED_FLAG_RESET_ON_FORK,
    nice: 0,
    priority: 0,
    runtimeNs,
    deadlineNs: RESERVATION_PERIOD_NS,
    periodNs: RESERVATION_PERIOD_NS,
  };
  const undo = setOnSelf(ops, attr, log);
  log.info(`stalld runs with a SCHED_DEADLINE reservation of ${pct} % (${describeAttr(attr)})`);
  return undo;
}

/** -A: stalld's main thread runs SCHED_FIFO 98, so RT tasks below that on its CPU cannot delay a pass. Throws. */
export function applyAggressive(ops: SchedOps, log: Logger): () => void {
  // What the FIFO boost policy probes with: SCHED_FIFO at the boost priority.
  const attr: SchedAttr = { ...fifo.probe };
  const undo = setOnSelf(ops, attr, log);
  log.info(`aggressive mode: stalld runs ${describeAttr(attr)} and takes a full snapshot every pass`);
  return undo;
}
