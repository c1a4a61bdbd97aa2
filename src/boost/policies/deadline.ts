// SCHED_DEADLINE boosts, the default: -r per period first; raised while the
// boost runs only for a task in debt or one that got nothing (escalation.ts),
// up to max(-r, period/20) and the per-CPU bound. Every rung is DEADLINE, so
// the kernel bounds it, whatever the task does.
import { SCHED_DEADLINE, SCHED_FLAG_RESET_ON_FORK } from "../../kernel/sched_attr";
import { nextRung } from "../escalation";
import { type BoostPolicy, rungAttr } from "../policy";

export const deadline: BoostPolicy = {
  name: "deadline",
  // Generous, so the probe itself is never throttled: a 20 us runtime would
  // overrun to the tick and stall the daemon for seconds.
  probe: {
    policy: SCHED_DEADLINE,
    flags: SCHED_FLAG_RESET_ON_FORK,
    nice: 0,
    priority: 0,
    runtimeNs: 10_000_000n,
    deadlineNs: 100_000_000n,
    periodNs: 100_000_000n,
  },
  announce: () => "using SCHED_DEADLINE for boosting",
  firstRung: (p) => ({ sliced: false, runtimeNs: p.runtimeNs }),
  nextRung: (r, p) => nextRung(r, p.runtimeNs, p.periodNs),
  escalates: true,
  attr: rungAttr,
};
