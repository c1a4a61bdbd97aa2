// A boost judged by its effect. A DEADLINE boost of the configured runtime
// (-r, 20 us by default) can give a task nothing useful: under slow CPUs (a
// guest under TCG) the switch into the task eats the slice, and every overrun
// of a tiny runtime pushes the task's deadline periods ahead, so it sits
// throttled for most of the boost (see KERNELS.md). So while a boost runs, the
// task is looked at every checkIntervalMs(): still runnable and barely run
// means still starving, and the runtime goes up tenfold, up to the bound. A
// task that leaves a boost still starving starts its next boost at the
// strength it had reached; one that ran and went to sleep starts again from
// the configured runtime. Pure decisions; booster.ts applies them.

/** Each step multiplies the runtime by this. */
export const ESCALATION_FACTOR = 10n;

/** The bound: 1/20 of the period (50 ms a second, what the kernel's own DL-server grants fair tasks), or -r when larger. */
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
 * How often a boosted task is looked at: a tenth of the period, within
 * 50-250 ms, so a useless first slice is raised well before the period's
 * replenishment gives the task its next one.
 */
export function checkIntervalMs(periodNs: bigint): number {
  return Math.min(250, Math.max(50, Number(periodNs) / 1e7));
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
 * the last look. A task that is not runnable ran and went to sleep (or blocks
 * on something else): the boost did its work.
 */
export function judgeProgress(prev: Progress, now: Progress): Verdict {
  if (now.state === null) return "gone";
  if (now.state !== "R") return "progressing";
  if (prev.cpuNs === null || now.cpuNs === null) return "starving";
  const ranNs = now.cpuNs - prev.cpuNs;
  const spanNs = (now.atMs - prev.atMs) * 1e6;
  return ranNs * 2 < spanNs ? "starving" : "progressing";
}

/**
 * The runtime each task's next boost starts at, for tasks whose last boost
 * left them starving. Keyed by pid and start time (a reused pid is another
 * task); entries expire, and the map is bounded.
 */
export class StrengthMemory {
  private readonly runtimes = new Map<string, { runtimeNs: bigint; atMs: number }>();

  constructor(private readonly ttlMs = 600_000, private readonly maxEntries = 4096) {}

  private static key(pid: number, starttime: number): string {
    return `${pid}:${starttime}`;
  }

  get(pid: number, starttime: number, nowMs: number): bigint | null {
    const k = StrengthMemory.key(pid, starttime);
    const e = this.runtimes.get(k);
    if (!e) return null;
    if (nowMs - e.atMs > this.ttlMs) {
      this.runtimes.delete(k);
      return null;
    }
    return e.runtimeNs;
  }

  remember(pid: number, starttime: number, runtimeNs: bigint, nowMs: number): void {
    if (this.runtimes.size >= this.maxEntries) {
      for (const [k, e] of this.runtimes) if (nowMs - e.atMs > this.ttlMs) this.runtimes.delete(k);
      if (this.runtimes.size >= this.maxEntries) this.runtimes.delete(this.runtimes.keys().next().value!);
    }
    this.runtimes.set(StrengthMemory.key(pid, starttime), { runtimeNs, atMs: nowMs });
  }

  forget(pid: number, starttime: number): void {
    this.runtimes.delete(StrengthMemory.key(pid, starttime));
  }

  get size(): number {
    return this.runtimes.size;
  }
}
