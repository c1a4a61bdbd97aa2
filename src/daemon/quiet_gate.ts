// Skipping a pass when nothing can have waited through the interval since the
// previous check. Either sign is enough:
// - idle: every monitored CPU idled, so its run queue was empty at some point
//   (not while RT throttling is on: a throttled CPU idles with RT tasks queued);
// - no wait: PSI says no CPU had a task waiting for the whole interval (a task
//   waiting throughout adds at least interval / CPUs to "some", or half that if
//   it moved once; a quarter is the bound, to absorb PSI's jiffy rounding).
//   PSI weighs each CPU by its busy time in whole jiffies, so over a short
//   interval a waiting task can add nothing at all (seen: a 1 ms interval
//   read as "no wait" with a task queued): the sign needs PSI_MIN_INTERVAL_NS.
// Then every task waiting now started after the previous check and cannot
// reach the (earliest) threshold before previousCheck + threshold; the next
// check comes no later than that, so no crossing is detected late. Checks
// half a threshold apart are the sparsest that keep this bound at every
// check, so a quiet system wakes stalld every max(granularity, threshold / 2)
// (each wake-up costs the runtime ~1-2 ms of CPU, whatever the pass does):
// where the backend learns a wait's start from the kernel. sched_debug dates a
// wait from the first snapshot that sees it, so for it the spacing stays the
// read step (passStepNs), its precision.
import type { RunConfig } from "../config";
import { MIN_SLEEP_NS, passTiming } from "./detect";

export interface QuietSample {
  /** Idle + iowait ticks per CPU; null when idle time proves nothing (RT throttling on). */
  idle: Map<number, number> | null;
  /** PSI cpu "some" total in us; null without PSI. */
  someUs: number | null;
}

export type QuietSign = "idle" | "no wait";

/** 25 jiffies at HZ=100: PSI's per-jiffy rounding stays under a few percent. */
export const PSI_MIN_INTERVAL_NS = 250e6;

/** Longest step between checks of a quiet system (see above). */
export function quietSpacingNs(granularityNs: number, horizonNs: number, kernelDatedWaits: boolean): number {
  return kernelDatedWaits ? Math.max(granularityNs, horizonNs / 2) : granularityNs;
}

export class QuietGate {
  private last: { atNs: number; sample: QuietSample } | null = null;
  skipped = 0;

  constructor(
    private readonly cpus: readonly number[],
    /** The earliest wait anything reports at (threshold, or the adaptive warning). */
    private readonly horizonNs: number,
    /** quietSpacingNs(): the longest skip. */
    private readonly spacingNs: number,
    /** CPUs PSI averages over (online ones). */
    private readonly onlineCpus: number,
  ) {}

  /** null: take a snapshot. Otherwise skip it: the next pass is due in skipNs. */
  check(nowNs: number, sample: QuietSample): { skipNs: number; sign: QuietSign } | null {
    const prev = this.last;
    this.last = { atNs: nowNs, sample };
    this.idledNow = [];
    if (!prev) return null;
    this.idledNow = this.idled(prev.sample.idle, sample.idle);
    const sign =
      this.idledNow.length === this.cpus.length
        ? "idle"
        : this.noWait(prev.sample.someUs, sample.someUs, nowNs - prev.atNs)
          ? "no wait"
          : null;
    if (!sign) return null;
    this.skipped++;
    return { skipNs: Math.max(MIN_SLEEP_NS, Math.min(this.spacingNs, prev.atNs + this.horizonNs - nowNs)), sign };
  }

  /**
   * The monitored CPUs that idled between the last two checks: whatever waits
   * on them now began after the earlier check and cannot have crossed yet, so
   * a pass need not judge them (the original's "cpu N had idle time!").
   */
  idledNow: number[] = [];

  private idled(before: Map<number, number> | null, after: Map<number, number> | null): number[] {
    if (!before || !after) return [];
    return this.cpus.filter((cpu) => {
      const b = before.get(cpu);
      const a = after.get(cpu);
      return b !== undefined && a !== undefined && a > b;
    });
  }

  private noWait(before: number | null, after: number | null, elapsedNs: number): boolean {
    if (before === null || after === null || after < before || elapsedNs < PSI_MIN_INTERVAL_NS) return false;
    return (after - before) * 1000 * 4 * this.onlineCpus < elapsedNs;
  }
}

/** The gate for a run: null with -N or in aggressive mode (idleDetect false). */
export function quietGateFor(
  cfg: Pick<RunConfig, "cpus" | "thresholdS" | "granularityS" | "mode" | "idleDetect">,
  kernelDatedWaits: boolean,
  onlineCpus: number,
): QuietGate | null {
  if (!cfg.idleDetect) return null;
  const t = passTiming(cfg.thresholdS, cfg.granularityS, cfg.mode === "adaptive", kernelDatedWaits);
  return new QuietGate(cfg.cpus, t.horizonNs, quietSpacingNs(t.stepNs, t.horizonNs, kernelDatedWaits), onlineCpus);
}
