// Choosing a backend: the one asked for, or the first in order that starts.
import type { Logger } from "../log/logger";
import { type Backend, BackendUnavailable } from "./backend";

export class NoBackend extends Error {
  constructor(readonly reasons: string[]) {
    super(reasons.join("; "));
    this.name = "NoBackend";
  }
}

/**
 * Starts the first backend of `names` that can start. Each one that cannot is
 * one warning line naming the next; if none can, NoBackend carries every reason.
 * Errors other than BackendUnavailable are bugs and propagate.
 */
export function startFirstAvailable<N extends string>(names: readonly N[], make: (name: N) => Backend, log: Logger): Backend {
  const reasons: string[] = [];
  for (const [i, name] of names.entries()) {
    try {
      const backend = make(name);
      backend.start();
      return backend;
    } catch (e) {
      if (!(e instanceof BackendUnavailable)) throw e;
      reasons.push(e.message);
      const next = names[i + 1];
      if (next) log.warn(`${e.message}; trying ${next}`);
    }
  }
  throw new NoBackend(reasons);
}
