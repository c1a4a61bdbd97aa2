// Choosing a backend: the one asked for, or the first in order that starts.
import type { Logger } from "../log/logger";
import { type Backend, BackendUnavailable } from "./backend";

export class NoBackend extends Error {
  constructor(readonly failures: BackendUnavailable[]) {
    super(summarize(failures));
    this.name = "NoBackend";
  }
}

/** "a, b unavailable: why; c unavailable: other": one clause per distinct reason. */
export function summarize(failures: readonly BackendUnavailable[]): string {
  const byReason = new Map<string, string[]>();
  for (const f of failures) byReason.set(f.reason, [...(byReason.get(f.reason) ?? []), f.backend]);
  return [...byReason].map(([reason, names]) => `${names.join(", ")} unavailable: ${reason}`).join("; ");
}

/**
 * Starts the first backend of `names` that can start. When one after the
 * first starts, a single warning says why the earlier ones could not; if none
 * can, NoBackend carries every reason. Errors other than BackendUnavailable
 * are bugs and propagate.
 */
export function startFirstAvailable<T extends { name: string }>(
  candidates: readonly T[],
  make: (candidate: T) => Backend,
  log: Logger,
): Backend {
  const failures: BackendUnavailable[] = [];
  for (const c of candidates) {
    try {
      const backend = make(c);
      backend.start();
      if (failures.length) log.warn(`${summarize(failures)}; using ${c.name}`);
      return backend;
    } catch (e) {
      if (!(e instanceof BackendUnavailable)) throw e;
      failures.push(e);
    }
  }
  throw new NoBackend(failures);
}
