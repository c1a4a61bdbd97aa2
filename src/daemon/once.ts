// "Say it once" for log lines about tasks: a bounded set of keys (pid, or
// pid:starttime so a reused pid is another task).
const MAX_KEYS = 4096;

export class OnceSet {
  private keys = new Set<string>();

  /** True the first time a key is seen (until it is dropped, or the set fills up and starts again). */
  first(key: string): boolean {
    if (this.keys.has(key)) return false;
    if (this.keys.size >= MAX_KEYS) this.keys.clear();
    this.keys.add(key);
    return true;
  }

  /** Drops every key not in `present`: a task that stops showing up is said again when it comes back. */
  keepOnly(present: Iterable<string>): void {
    if (!this.keys.size) return;
    const keep = new Set(present);
    for (const k of this.keys) if (!keep.has(k)) this.keys.delete(k);
  }
}
