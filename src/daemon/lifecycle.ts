// One stack of undos. Everything the daemon acquires (a mount, RT throttling,
// HRTICK_DL, its own scheduling, the backend, the state directory, the
// metrics server, boosts, the passes) is pushed here with its undo as it is
// acquired; every exit path unwinds the stack once, in reverse, each undo
// attempted even when another fails.
import type { Logger } from "../log/logger";

interface Step {
  name: string;
  /** Told why stalld stops (a restore line says it). */
  undo: (why: string) => void;
}

export class Lifecycle {
  private readonly steps: Step[] = [];
  private unwinding = false;

  constructor(private readonly log: Logger) {}

  /** Records what was just acquired and how to give it back. */
  push(name: string, undo: (why: string) => void): void {
    if (this.unwinding) throw new Error(`${name} acquired while stalld is stopping`);
    this.steps.push({ name, undo });
  }

  /** What is held now, in the order it was acquired. */
  get held(): string[] {
    return this.steps.map((s) => s.name);
  }

  get stopping(): boolean {
    return this.unwinding;
  }

  /** Idempotent and synchronous: for signal handlers, crashes and exit. */
  unwind(why: string): void {
    if (this.unwinding) return;
    this.unwinding = true;
    if (this.steps.length) this.log.info(`stopping (${why})`);
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      try {
        step.undo(why);
      } catch (e) {
        this.log.error(`putting back ${step.name} failed: ${(e as Error).message}`);
      }
    }
  }
}
