// The boost policies, in the order stalld tries them on itself at start:
// the first the kernel allows is used. Adding a policy is its own file under
// policies/ plus one entry here.

import { policyName, type SchedOps } from "../kernel/sched_attr";
import type { Logger } from "../log/logger";
import { deadline } from "./policies/deadline";
import { fifo } from "./policies/fifo";
import type { BoostMethod, BoostPolicy } from "./policy";

export const BOOST_POLICIES: readonly BoostPolicy[] = [deadline, fifo];

export function policyNamed(name: BoostMethod): BoostPolicy {
  const p = BOOST_POLICIES.find((x) => x.name === name);
  if (!p) throw new Error(`no boost policy ${name}`);
  return p;
}

const SELF = 0;

/** Sets the probe on stalld's own thread and puts its attributes back; null when allowed, else why not. */
function tryOnSelf(ops: SchedOps, p: BoostPolicy): string | null {
  const saved = ops.get(SELF);
  try {
    ops.set(SELF, { ...p.probe, nice: saved.nice });
  } catch (e) {
    return (e as Error).message;
  }
  ops.set(SELF, saved);
  return null;
}

/**
 * The first policy of BOOST_POLICIES (only FIFO with -F) that this system
 * lets stalld set, logged with the original's phrases and the reason for any
 * fallback; null: nothing can be set, log-only.
 */
export function probeBoostPolicy(ops: SchedOps, forceFifo: boolean, log: Logger): BoostPolicy | null {
  const candidates = forceFifo ? [fifo] : BOOST_POLICIES;
  const refused: string[] = [];
  for (const p of candidates) {
    const why = tryOnSelf(ops, p);
    if (why === null) {
      if (refused.length) log.warn(`${refused.join("; ")}: falling back to ${policyName(p.probe.policy)}`);
      log.info(p.announce(forceFifo));
      return p;
    }
    refused.push(`${policyName(p.probe.policy)} cannot be set on this system (${why})`);
  }
  log.warn(`${refused.join("; ")}: falling back to log-only: starving tasks are only logged`);
  return null;
}
