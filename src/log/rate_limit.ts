// Repeated lines (the same boost refused every pass, a pass that keeps
// failing, thousands of threads made to starve at once) must not flood the
// journal. Lines are counted per key: the event a line reports (and its CPU),
// or, for lines without one, the text with numbers taken out; never the text
// a task's name makes, which anyone can vary. Each key gets a burst per window.

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

  /** Whether a line of `key` may go out now; `burst` overrides the limiter's own. */
  admit(message: string, key = similarityKey(message), burst = this.burst): Admission {
    const t = this.now();
    let st = this.keys.get(key);
    let suppressedBefore = 0;
    if (!st || t - st.windowStart >= this.windowMs) {
      suppressedBefore = st?.suppressed ?? 0;
      if (!st && this.keys.size >= MAX_KEYS) this.keys.delete(this.keys.keys().next().value!);
      st = { windowStart: t, count: 0, suppressed: 0, sample: message };
      this.keys.set(key, st);
    }
    if (++st.count <= burst) return { emit: true, suppressedBefore };
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
