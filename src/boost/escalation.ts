// A DEADLINE boost judged by its effect, on what the kernel's DEADLINE class
// really does (kernel/sched/deadline.c; measured under instruction-counted
// time in the lab, lab/FINDINGS.md):
//
// - A boosted task that is runnable preempts every RT task at once and runs
//   its runtime; then it is throttled until its next period. A task that ran
//   its runtime and is still runnable has more work than the boost pays for:
//   that is the boost working as bounded, not "getting nothing".
// - An overrun (a runtime shorter than the tick without HRTICK_DL, a
//   non-preemptible section) is debt: the replenishment adds one runtime per
//   period until the balance is positive, pushing the deadline that many
//   periods ahead. `sched_setattr` changes the runtime that replenishment
//   adds, not the balance: a runtime raised before the next replenishment
//   repays the debt in one period.
// - A queued task that ran nothing at all under its boost is not enqueued:
//   a throttle left from an earlier boost whose replenishment timer fired
//   while it was not DEADLINE. No runtime lifts it; leaving DEADLINE while
//   queued does (booster.ts re-arms the boost).
//
// So the booster keeps a ledger of the runtime the kernel has granted (one
// runtime at the start and at each period boundary) against the CPU time the
// task used, and raises the runtime only for debt.
// Every rung is SCHED_DEADLINE: the kernel bounds each one. Pure decisions;
// booster.ts applies them.
import type { Rung } from "./policy";

/** Each step multiplies the runtime by this. */
export const ESCALATION_FACTOR = 10n;

/**
 * The largest runtime of one boost: 1/20 of the period (50 ms a second, what
 * the kernel's own DL-server grants fair tasks), or -r when larger.
 */
export function maxRuntimeNs(configuredNs: bigint, periodNs: bigint): bigint {
  const cap = periodNs / 20n;
  return configuredNs > cap ? configuredNs : cap;
}

/** The next runtime up from `currentNs`, or null at the bound already. */
export function strongerRuntimeNs(currentNs: bigint, configuredNs: bigint, periodNs: bigint): bigint | null {
  const cap = maxRuntimeNs(configuredNs, periodNs);
  if (currentNs >= cap) return null;
  const next = currentNs * ESCALATION_FACTOR;
  return next > cap ? cap : next;
}

/** The rung above `r` (tenfold, up to the bound), or null at the bound. FIFO slices are never raised. */
export function nextRung(r: Rung, configuredNs: bigint, periodNs: bigint): Rung | null {
  if (r.sliced) return null;
  const runtimeNs = strongerRuntimeNs(r.runtimeNs, configuredNs, periodNs);
  return runtimeNs === null ? null : { sliced: false, runtimeNs };
}

/**
 * The smallest rung of the ladder (-r, tenfold, up to the bound) above
 * `debtNs`, so that the next replenishment repays the debt in one period;
 * null when that is not above `currentNs`.
 */
export function rungCoveringDebt(
  debtNs: number,
  currentNs: bigint,
  configuredNs: bigint,
  periodNs: bigint,
): Rung | null {
  let r: bigint | null = configuredNs;
  while (r !== null && Number(r) <= debtNs) r = strongerRuntimeNs(r, configuredNs, periodNs);
  const runtimeNs = r ?? maxRuntimeNs(configuredNs, periodNs);
  return runtimeNs > currentNs ? { sliced: false, runtimeNs } : null;
}

/**
 * The runtime a kernel thread's boost starts at: an eighth of the top of the
 * ladder (6.25 ms a second at the defaults), or -r if that is more. A debt
 * pushes the deadline one period per runtime, beyond the boost and any
 * boost after it, and nothing from user space brings it back: kernel
 * threads run their work in bursts the runtime cannot cut (on PREEMPT_RT,
 * ktimers/N, ksoftirqd/N and rcuc/N share the softirq lock and run on each
 * other's DEADLINE parameters through priority inheritance, unthrottled).
 * The icount lab saw bursts of 2-40 ms at 20 us and 2 ms: 100-2000 periods,
 * after which every boost of ktimers/1 on 6.1-rt and 6.12-rt ran nothing.
 * At 6.25 ms such a burst costs a few periods; an eighth leaves CPU 1's bound
 * room for the three softirq threads and a user task at once.
 */
export function kthreadFirstRuntimeNs(configuredNs: bigint, periodNs: bigint): bigint {
  const eighth = maxRuntimeNs(configuredNs, periodNs) / 8n;
  return eighth > configuredNs ? eighth : configuredNs;
}

/**
 * Where the next boost of a task a whole boost gave nothing starts: one rung
 * above -r, no further. While it runs, such a task is re-armed, never raised
 * (booster.ts): a larger runtime lifts neither a stale throttle nor a
 * deadline pushed far ahead, and every rung it took came out of the CPU's
 * bound for the others (a victim behind FIFO 99 once waited 8.2 s for it).
 */
export function nothingCapNs(configuredNs: bigint, periodNs: bigint): bigint {
  return strongerRuntimeNs(configuredNs, configuredNs, periodNs) ?? configuredNs;
}

/**
 * How often a boosted task is looked at first: a twentieth of the period,
 * within 25-250 ms, so a raise lands well before the next replenishment
 * (each look is two /proc reads); nextLookMs backs off from there.
 */
export function checkIntervalMs(periodNs: bigint): number {
  return Math.min(250, Math.max(25, Number(periodNs) / 2e7));
}

/**
 * The next look's interval: back to `checkIntervalMs` after a look that
 * changed the boost (a raise, a re-arm), else twice the last, up to a fifth
 * of the period (a raise still lands before the next replenishment). A task
 * progressing as bounded needs few looks; there may be thousands of boosts.
 */
export function nextLookMs(lastMs: number, changed: boolean, periodNs: bigint): number {
  const base = checkIntervalMs(periodNs);
  if (changed) return base;
  return Math.max(base, Math.min(2 * lastMs, Number(periodNs) / 5e6));
}

/**
 * Looks are best effort and restores are not: all looks together take at
 * most this many ms of each second of stalld's own CPU time (a tenth).
 * Beyond it, a look is put off, so a slow machine (the lab's emulated guest,
 * where one look cost ~5 ms and a hundred a second outran stalld's 50 %
 * reservation, restores came 5-20 s late) sheds looks, not restores.
 */
export const LOOK_BUDGET_MS_PER_S = 100;
/**
 * A look in a boost's first period may take up to three times the budget:
 * the first run after sched_setattr overruns a 20 us runtime by ~1 ms (lab
 * dlprobe), and only a raise before the first replenishment keeps that debt
 * from pushing the task's deadline 50 periods ahead, beyond any later boost.
 */
export const FIRST_PERIOD_BUDGET_FACTOR = 3;

/** Time spent on looks in the current second: whether one more may run now. */
export class LookBudget {
  private windowStartMs = Number.NEGATIVE_INFINITY;
  private spentMs = 0;
  /** Looks put off since the start (the daemon may say it). */
  shed = 0;

  allows(nowMs: number, firstPeriod = false): boolean {
    if (nowMs - this.windowStartMs >= 1000) {
      this.windowStartMs = nowMs;
      this.spentMs = 0;
    }
    if (this.spentMs < LOOK_BUDGET_MS_PER_S * (firstPeriod ? FIRST_PERIOD_BUDGET_FACTOR : 1)) return true;
    this.shed++;
    return false;
  }

  spend(ms: number): void {
    this.spentMs += Math.max(0, ms);
  }
}

/** What the booster saw of a task at one moment. */
export interface Progress {
  /** /proc state letter; null when the task is gone. */
  state: string | null;
  /** CPU time so far (ns); null when unknown. */
  cpuNs: number | null;
  /** The CPU it is on (or last ran on); null when unknown. */
  cpu: number | null;
  atMs: number;
}

/**
 * The runtime the kernel has granted a continuously runnable task since its
 * boost began: one runtime at the start, then the runtime in effect at each
 * period boundary (a sleeper is granted less, and uses less).
 */
export interface Ledger {
  grantedNs: number;
  nextReplenishMs: number;
}

export function startLedger(runtimeNs: bigint, startMs: number, periodNs: bigint): Ledger {
  return { grantedNs: Number(runtimeNs), nextReplenishMs: startMs + Number(periodNs) / 1e6 };
}

/** The ledger at `nowMs`, each boundary passed adding `runtimeNs` (the runtime in effect until now). */
export function replenish(l: Ledger, nowMs: number, runtimeNs: bigint, periodNs: bigint): Ledger {
  const periodMs = Number(periodNs) / 1e6;
  if (nowMs < l.nextReplenishMs) return l;
  const n = Math.floor((nowMs - l.nextReplenishMs) / periodMs) + 1;
  return { grantedNs: l.grantedNs + n * Number(runtimeNs), nextReplenishMs: l.nextReplenishMs + n * periodMs };
}

export type Verdict =
  | { kind: "gone" }
  /** On another CPU than the one it starved on: its boost ends, so each CPU's bound holds. */
  | { kind: "moved"; cpu: number }
  /** Not run at all since its boost began: still queued, whatever its state letter says. */
  | { kind: "ran-nothing" }
  /** Used more than it was granted: throttled for `debtNs` beyond its runtime, runnable or not. */
  | { kind: "in-debt"; debtNs: number }
  | { kind: "progressing" };

/**
 * One look at a boosted task. `startCpuNs`: its CPU time when the boost
 * began. Without CPU time, runnable is all there is to go by.
 */
export function judgeLook(now: Progress, boostCpu: number, startCpuNs: number | null, ledger: Ledger): Verdict {
  if (now.state === null) return { kind: "gone" };
  if (now.cpu !== null && now.cpu !== boostCpu) return { kind: "moved", cpu: now.cpu };
  if (startCpuNs === null || now.cpuNs === null)
    return now.state === "R" ? { kind: "ran-nothing" } : { kind: "progressing" };
  const ranNs = now.cpuNs - startCpuNs;
  if (ranNs <= 0) return { kind: "ran-nothing" };
  // Whatever its state letter: a sleeper that overran (the first run after sched_setattr overruns a
  // 20 us runtime by ~0.5-1 ms even with HRTICK_DL, lab dlprobe) wakes into a throttle of that many periods.
  const debtNs = ranNs - ledger.grantedNs;
  return debtNs > 0 ? { kind: "in-debt", debtNs } : { kind: "progressing" };
}

/** The rung a verdict asks for, or null: none (or none above the current one). */
export function rungFor(v: Verdict, r: Rung, configuredNs: bigint, periodNs: bigint): Rung | null {
  if (r.sliced) return null;
  if (v.kind === "ran-nothing")
    return r.runtimeNs < nothingCapNs(configuredNs, periodNs) ? nextRung(r, configuredNs, periodNs) : null;
  if (v.kind === "in-debt") return rungCoveringDebt(v.debtNs, r.runtimeNs, configuredNs, periodNs);
  return null;
}

/**
 * The rung each task's next boost starts on, for tasks a whole boost gave
 * nothing. Keyed by pid and start time (a reused pid is another task);
 * entries expire, and the map is bounded.
 */
export class StrengthMemory {
  private readonly rungs = new Map<string, { rung: Rung; atMs: number }>();

  constructor(
    private readonly ttlMs = 600_000,
    private readonly maxEntries = 4096,
  ) {}

  private static key(pid: number, starttime: number): string {
    return `${pid}:${starttime}`;
  }

  get(pid: number, starttime: number, nowMs: number): Rung | null {
    const k = StrengthMemory.key(pid, starttime);
    const e = this.rungs.get(k);
    if (!e) return null;
    if (nowMs - e.atMs > this.ttlMs) {
      this.rungs.delete(k);
      return null;
    }
    return e.rung;
  }

  /** When the boost that gave it nothing ended, or null. */
  endedAtMs(pid: number, starttime: number, nowMs: number): number | null {
    return this.get(pid, starttime, nowMs) ? this.rungs.get(StrengthMemory.key(pid, starttime))!.atMs : null;
  }

  remember(pid: number, starttime: number, rung: Rung, nowMs: number): void {
    if (this.rungs.size >= this.maxEntries) {
      for (const [k, e] of this.rungs) if (nowMs - e.atMs > this.ttlMs) this.rungs.delete(k);
      if (this.rungs.size >= this.maxEntries) this.rungs.delete(this.rungs.keys().next().value!);
    }
    this.rungs.set(StrengthMemory.key(pid, starttime), { rung, atMs: nowMs });
  }

  forget(pid: number, starttime: number): void {
    this.rungs.delete(StrengthMemory.key(pid, starttime));
  }

  get size(): number {
    return this.rungs.size;
  }
}
