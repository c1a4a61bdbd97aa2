// Which starving tasks are left to the kernel's DL-server: fair ones
// (SCHED_OTHER, BATCH, IDLE) on a CPU whose server has runtime. It does
// nothing for an RT task behind a higher-priority RT task, nor on a CPU where
// its runtime is 0, nor for sched_ext tasks; where its state is unknown,
// stalld boosts as the original does.
import { type DlServerView, dlServerEnabled } from "../kernel/dl_server";

const SCHED_OTHER = 0;
const SCHED_BATCH = 3;
const SCHED_IDLE = 5;
export const FAIR_POLICIES: ReadonlySet<number> = new Set([SCHED_OTHER, SCHED_BATCH, SCHED_IDLE]);

export type DlDecision = { boost: true } | { boost: false; why: string };

export function dlServerDecision(policy: number, cpu: number, view: DlServerView, boostAll: boolean): DlDecision {
  if (boostAll || !FAIR_POLICIES.has(policy)) return { boost: true };
  if (dlServerEnabled(view, cpu) !== true) return { boost: true };
  const c = view.cpus.get(cpu)!;
  return {
    boost: false,
    why: `the DL-server gives fair tasks ${c.runtimeNs / 1e6}/${c.periodNs / 1e6} ms on CPU ${cpu}`,
  };
}

/** How often the view is read again when a decision needs it: an admin may change a server's runtime. */
export const DL_VIEW_MAX_AGE_NS = 10e9;

/** The last view, read again when older than DL_VIEW_MAX_AGE_NS. */
export class DlServerWatch {
  private view: DlServerView | null = null;
  private atNs = 0;

  constructor(private readonly read: () => DlServerView) {}

  get(nowNs: number): DlServerView {
    if (!this.view || nowNs - this.atNs >= DL_VIEW_MAX_AGE_NS) {
      this.view = this.read();
      this.atNs = nowNs;
    }
    return this.view;
  }
}
