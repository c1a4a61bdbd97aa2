// The per-CPU bound: all boosts on one CPU together hold at most a share of
// it. With RT throttling off (as stalld needs it) the kernel's DEADLINE
// admission control is off too, so nothing else caps how much a flood of
// starving tasks would take from the RT task that owns the CPU.
//
// 5 %: what a stock kernel already takes from an RT task on every CPU, twice
// over: RT throttling (sched_rt_runtime_us 950000 of 1000000) leaves 5 % to
// the rest, and the DL-server grants fair tasks 50 ms a second. An RT
// application tuned on a stock kernel tolerates losing that much; stalld,
// which turns throttling off, gives back no more than that, in total. It is
// also one boost at the top of the ladder (period / 20, escalation.ts).
//
// Every boost uses the one period (-p), so bandwidth is runtime per period.
// A boost is charged to the CPU it starved on; one found on another CPU ends
// (booster.ts), so the charge stays where the time is taken.

/** The share of each CPU that all boosts on it may hold together, in percent. */
export const BOOST_SHARE_PCT = 5;

export class CpuShare {
  private readonly used = new Map<number, bigint>();
  /** The runtime per period all boosts on one CPU may hold together. */
  readonly capNs: bigint;

  constructor(periodNs: bigint, pct = BOOST_SHARE_PCT) {
    this.capNs = (periodNs * BigInt(pct)) / 100n;
  }

  usedNs(cpu: number): bigint {
    return this.used.get(cpu) ?? 0n;
  }

  /** What is left on `cpu`. */
  roomNs(cpu: number): bigint {
    const room = this.capNs - this.usedNs(cpu);
    return room > 0n ? room : 0n;
  }

  /** Charges `ns` more (negative: gives back) to `cpu`. */
  charge(cpu: number, ns: bigint): void {
    const next = this.usedNs(cpu) + ns;
    if (next <= 0n) this.used.delete(cpu);
    else this.used.set(cpu, next);
  }
}
