// Idle detection. A CPU that idled since the previous check had an empty run
// queue then, so every task waiting on it now started after that check. When
// every monitored CPU idled, the snapshot can be skipped: no wait can reach
// the (earliest) threshold before previousCheck + threshold, and the next
// check comes no later than that, so no crossing is detected late.
import { MIN_SLEEP_NS } from "./detect";

export class IdleGate {
  private last: { atNs: number; idle: Map<number, number> } | null = null;
  skipped = 0;

  constructor(
    private readonly cpus: readonly number[],
    /** The earliest wait anything reports at (threshold, or the adaptive warning). */
    private readonly horizonNs: number,
    private readonly granularityNs: number,
  ) {}

  /** null: take a snapshot. A number: skip it; the next pass is due in that many ns. */
  check(nowNs: number, idle: Map<number, number>): number | null {
    const prev = this.last;
    this.last = { atNs: nowNs, idle };
    if (!prev) return null;
    for (const cpu of this.cpus) {
      const before = prev.idle.get(cpu);
      const after = idle.get(cpu);
      if (before === undefined || after === undefined || after <= before) return null;
    }
    this.skipped++;
    return Math.max(MIN_SLEEP_NS, Math.min(this.granularityNs, prev.atNs + this.horizonNs - nowNs));
  }
}
