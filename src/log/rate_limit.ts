// Repeated identical failures (the same boost refused every pass, a pass that
// keeps failing) must not flood the journal. Messages that differ only in
// numbers (pids, seconds) count as the same; each gets a burst per window.

export interface Admission {
  emit: boolean;
  /** Similar messages dropped in the previous window, to mention with this one. */
  suppressedBefore: number;
}

interface KeyState {
  windowStart: number;
  count: number;
  suppressed: number;
  sample: string;
}

const MAX_KEYS = 1024;

export function similarityKey(message: string): string {
  return message.replace(/\d+(\.\d+)?/g, "#");
}

export class RateLimiter {
  private readonly keys = new Map<string, KeyState>();

  constructor(
    private readonly burst = 5,
    private readonly windowMs = 60_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  admit(message: string): Admission {
    const key = similarityKey(message);
    const t = this.now();
    let st = this.keys.get(key);
    let suppressedBefore = 0;
    if (!st || t - st.windowStart >= this.windowMs) {
      suppressedBefore = st?.suppressed ?? 0;
      if (!st && this.keys.size >= MAX_KEYS) this.keys.delete(this.keys.keys().next().value!);
      st = { windowStart: t, count: 0, suppressed: 0, sample: message };
      this.keys.set(key, st);
    }
    if (++st.count <= this.burst) return { emit: true, suppressedBefore };
    st.suppressed++;
    return { emit: false, suppressedBefore: 0 };
  }

  /** What is still held back (for a last line at exit); resets the counts. */
  drain(): { sample: string; suppressed: number }[] {
    const out: { sample: string; suppressed: number }[] = [];
    for (const st of this.keys.values()) {
      if (st.suppressed > 0) out.push({ sample: st.sample, suppressed: st.suppressed });
      st.suppressed = 0;
    }
    return out;
  }
}
