// A boost judged by its effect. A DEADLINE boost of the configured runtime
// (-r, 20 us by default) can give a task nothing useful: every overrun of a
// tiny runtime (to the next tick without HRTICK_DL, by milliseconds in a slow
// guest) is paid back a runtime per period, so the kernel pushes the task's
// deadline periods ahead and keeps it throttled, and a throttled task sees a
// new runtime only at its next replenishment (see KERNELS.md). So while a
// boost runs, the task is looked at every checkIntervalMs(): still runnable
// and barely run means still starving, and the boost climbs one rung: the
// runtime tenfold up to the bound, then, at the bound, SCHED_FIFO slices of
// the same bandwidth, which the DEADLINE throttle cannot hold back. A task
// that leaves a boost still starving starts its next boost on the rung it had
// reached; one that ran and went to sleep starts again from the configured
// runtime. Pure decisions; booster.ts applies them.
import type { Rung } from "./policy";

/** Each step multiplies the runtime by this. */
export const ESCALATION_FACTOR = 10n;

/**
 * The bound: 1/20 of the period (50 ms a second, what the kernel's own DL-server grants fair tasks),
 * or -r when larger.
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

/**
 * The rung above `r`, or null on the last one. (Going to the FIFO rung at the
 * first look when a task ran nothing at all was tried: on 6.12 the kernel's
 * DEADLINE bandwidth sum then went negative by one 20 us boost, and
 * sched_rt_runtime_us refused every write until reboot; see KERNELS.md.)
 */
export function nextRung(r: Rung, configuredNs: bigint, periodNs: bigint): Rung | null {
  if (r.sliced) return null;
  const runtimeNs = strongerRuntimeNs(r.runtimeNs, configuredNs, periodNs);
  return runtimeNs === null
    ? { sliced: true, runtimeNs: maxRuntimeNs(configuredNs, periodNs) }
    : { sliced: false, runtimeNs };
}

/**
 * How often a boosted task is looked at: a twentieth of the period, within
 * 25-250 ms, so a task that gets nothing climbs the five rungs from 20 us to
 * FIFO slices in a quarter of a 1 s period (each look is one /proc read).
 */
export function checkIntervalMs(periodNs: bigint): number {
  return Math.min(250, Math.max(25, Number(periodNs) / 2e7));
}

/** What the booster saw of a task at one moment. */
export interface Progress {
  /** /proc state letter; null when the task is gone. */
  state: string | null;
  /** CPU time so far (ns); null when unknown. */
  cpuNs: number | null;
  atMs: number;
}

export type Verdict = "starving" | "progressing" | "gone";

/**
 * Still starving: runnable (R) and on a CPU for less than half the time since
 * the last look, or not run at all since the boost began (`boostStartCpuNs`):
 * a queued task leaves its run queue only by running, so one that has not run
 * is still queued, whatever its state letter says (a task preempted after it
 * set a sleeping state shows S or D; seen for ktimers/N on PREEMPT_RT). A task
 * that ran and is not runnable went to sleep (or blocks on something else):
 * the boost did its work.
 */
export function judgeProgress(prev: Progress, now: Progress, boostStartCpuNs: number | null = null): Verdict {
  if (now.state === null) return "gone";
  if (boostStartCpuNs !== null && now.cpuNs !== null && now.cpuNs <= boostStartCpuNs) return "starving";
  if (now.state !== "R") return "progressing";
  if (prev.cpuNs === null || now.cpuNs === null) return "starving";
  const ranNs = now.cpuNs - prev.cpuNs;
  const spanNs = (now.atMs - prev.atMs) * 1e6;
  return ranNs * 2 < spanNs ? "starving" : "progressing";
}

/**
 * The rung each task's next boost starts on, for tasks whose last boost
 * left them starving. Keyed by pid and start time (a reused pid is another
 * task); entries expire, and the map is bounded.
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
