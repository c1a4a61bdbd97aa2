// Bun reads some of its settings only from the environment at start-up, so
// `run` starts itself again (same pid, before it changes anything) with them:
//
// - BUN_GC_TIMER_DISABLE=1: Bun's idle GC timer wakes the main thread every
//   second (it reads /proc/self/statm, then collects) for as long as the heap
//   keeps changing, and a pass every few seconds always changes it: about half
//   of an idle daemon's CPU time or more (one run: 3.4 -> 1.05 s/hour). JSC
//   still collects, paced by allocation.
// - BUN_JSC_numberOfGCMarkers=1, BUN_JSC_useConcurrentGC=0,
//   BUN_JSC_useConcurrentJIT=0: no helper threads the main thread waits for.
//   Those are SCHED_OTHER; a busy RT loop on stalld's CPU starves them while
//   the main thread, DEADLINE on PREEMPT_RT, sits in futex_wait behind them
//   (the lab's 6.1-rt "own timers" scenario: a HeapHelper thread R on CPU 0,
//   stalld silent 9 s). The heap is a few MB: collecting and compiling on the
//   main thread cost the same CPU (12 ticks per idle 40 s either way) and the
//   same start-up (127 vs 130 ms).
//
// A value the user set is kept.
import { execve } from "../ffi/process";
import { selfCommand } from "../self";

export const RUNTIME_ENV: Readonly<Record<string, string>> = {
  BUN_GC_TIMER_DISABLE: "1",
  BUN_JSC_numberOfGCMarkers: "1",
  BUN_JSC_useConcurrentGC: "0",
  BUN_JSC_useConcurrentJIT: "0",
};

/** The settings this environment lacks, with their values; user-set ones are kept. */
export function missingRuntimeEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return Object.fromEntries(Object.entries(RUNTIME_ENV).filter(([k]) => env[k] === undefined));
}

/**
 * Re-executes this daemon with RUNTIME_ENV. Called before anything on the
 * system is changed; returns only if there is nothing to do or the exec failed
 * (then the daemon runs with Bun's defaults).
 */
export function restartWithRuntimeEnv(onFailure: (why: string) => void): void {
  const missing = missingRuntimeEnv();
  if (Object.keys(missing).length === 0) return;
  try {
    const argv = selfCommand();
    execve(argv[0]!, argv, { ...process.env, ...missing });
  } catch (e) {
    onFailure((e as Error).message);
  }
}
