// The original's SCHED_FIFO emulation of the DEADLINE bandwidth (-F, or where
// DEADLINE cannot be set): FIFO 98 for -r of every period, the task's own
// policy for the rest. Never raised. The kernel does not bound a FIFO slice:
// stalld's own timer ends it, so with this policy stalld's main thread takes
// a DEADLINE reservation (self_sched.ts) that no RT task on its CPU can hold
// off, and each switch first checks that the task is the one boosted and as
// stalld left it (booster.ts).
import { SCHED_FIFO, SCHED_FLAG_RESET_ON_FORK } from "../../kernel/sched_attr";
import { type BoostPolicy, FIFO_BOOST_PRIORITY, rungAttr } from "../policy";

export const fifo: BoostPolicy = {
  name: "fifo",
  probe: {
    policy: SCHED_FIFO,
    flags: SCHED_FLAG_RESET_ON_FORK,
    nice: 0,
    priority: FIFO_BOOST_PRIORITY,
    runtimeNs: 0n,
    deadlineNs: 0n,
    periodNs: 0n,
  },
  announce: (forced) => (forced ? "forcing SCHED_FIFO for boosting" : "using SCHED_FIFO for boosting"),
  firstRung: (p) => ({ sliced: true, runtimeNs: p.runtimeNs }),
  nextRung: () => null,
  escalates: false,
  attr: rungAttr,
};
