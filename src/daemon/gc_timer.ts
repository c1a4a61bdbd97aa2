// Bun's idle GC timer wakes the main thread every second (it reads
// /proc/self/statm, then collects) for as long as the heap keeps changing,
// and a pass every few seconds always changes it: about half of an idle
// daemon's CPU time or more (measured in one run: 3.4 -> 1.05 s/hour). Its
// only switch is an environment variable read when the runtime starts, so the
// daemon starts itself again, same pid, with it set. JSC still collects,
// paced by allocation; and with the daemon's memory locked an idle collection
// could not give pages back anyway.
import { execve } from "../ffi/process";
import { selfCommand } from "../self";

export const GC_TIMER_ENV = "BUN_GC_TIMER_DISABLE";

/**
 * Re-executes this daemon with the idle GC timer off. Called before anything
 * on the system is changed; returns only if there is nothing to do or the
 * exec failed (then the daemon runs as it is, with the timer).
 */
export function restartWithoutGcTimer(onFailure: (why: string) => void): void {
  // Set already, by us or by a user who chose a value: nothing to do.
  if (process.env[GC_TIMER_ENV] !== undefined) return;
  const argv = selfCommand();
  try {
    execve(argv[0]!, argv, { ...process.env, [GC_TIMER_ENV]: "1" });
  } catch (e) {
    onFailure((e as Error).message);
  }
}
