// Scheduling changes stalld makes to itself: probing which boost policy this
// system allows (on itself, before boosting anyone), the -R reservation and
// the -A FIFO priority. They apply to the main thread (tid 0 = the caller),
// which runs every pass and every boost.
import type { Logger } from "../log/logger";
import type { BoostMethod } from "./booster";
import {
  describeAttr,
  SCHED_DEADLINE,
  SCHED_FIFO,
  SCHED_FLAG_RESET_ON_FORK,
  type SchedAttr,
  type SchedOps,
} from "./sched_attr";

const SELF = 0;
/** Period of stalld's own -R reservation. */
export const RESERVATION_PERIOD_NS = 100_000_000n;
/** -A: stalld's thread runs at the priority it boosts with under -F. */
export const AGGRESSIVE_FIFO_PRIORITY = 98;

// A probe runtime generous enough that the probe itself is never throttled:
// a 20 us runtime would overrun to the tick and stall the daemon for seconds.
const PROBE: SchedAttr = {
  policy: SCHED_DEADLINE,
  flags: SCHED_FLAG_RESET_ON_FORK,
  nice: 0,
  priority: 0,
  runtimeNs: 10_000_000n,
  deadlineNs: 100_000_000n,
  periodNs: 100_000_000n,
};
const PROBE_FIFO: SchedAttr = {
  policy: SCHED_FIFO,
  flags: SCHED_FLAG_RESET_ON_FORK,
  nice: 0,
  priority: 98,
  runtimeNs: 0n,
  deadlineNs: 0n,
  periodNs: 0n,
};

function tryPolicy(ops: SchedOps, attr: SchedAttr): string | null {
  const saved = ops.get(SELF);
  try {
    ops.set(SELF, { ...attr, nice: saved.nice });
  } catch (e) {
    return (e as Error).message;
  }
  ops.set(SELF, saved);
  return null;
}

/**
 * DEADLINE, then FIFO, then nothing: the method boosts will use, logged with
 * the original's phrases and the reason for any fallback. null: log-only.
 */
export function probeBoostMethod(ops: SchedOps, forceFifo: boolean, log: Logger): BoostMethod | null {
  if (!forceFifo) {
    const dl = tryPolicy(ops, PROBE);
    if (dl === null) {
      log.info("using SCHED_DEADLINE for boosting");
      return "deadline";
    }
    log.warn(`SCHED_DEADLINE cannot be set on this system (${dl}): falling back to SCHED_FIFO`);
  }
  const ff = tryPolicy(ops, PROBE_FIFO);
  if (ff === null) {
    log.info(forceFifo ? "forcing SCHED_FIFO for boosting" : "using SCHED_FIFO for boosting");
    return "fifo";
  }
  log.warn(`SCHED_FIFO cannot be set on this system either (${ff}): falling back to log-only, nothing will be boosted`);
  return null;
}

/** -R: a DEADLINE reservation of `pct` % of a CPU for stalld's main thread. Throws on failure. */
export function applyReservation(ops: SchedOps, pct: number, log: Logger): void {
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
  ops.set(SELF, attr);
  log.info(`stalld runs with a SCHED_DEADLINE reservation of ${pct} % (${describeAttr(attr)})`);
}

/** -A: stalld's main thread runs SCHED_FIFO, so RT tasks below that priority on its CPU cannot delay a pass. */
export function applyAggressive(ops: SchedOps, log: Logger): void {
  const attr: SchedAttr = { ...PROBE_FIFO, priority: AGGRESSIVE_FIFO_PRIORITY };
  ops.set(SELF, attr);
  log.info(`aggressive mode: stalld runs ${describeAttr(attr)} and takes a full snapshot every pass`);
}
