// Detection decisions, pure: a snapshot in, the starving tasks and the time of
// the next pass out. Nothing is carried from one pass to the next.
import type { RunningTask, Snapshot, Waiter } from "../backends/backend";
import { MAX_RT_PRIO } from "../kernel/sched_attr";

export interface DetectConfig {
  cpus: ReadonlySet<number>;
  thresholdNs: number;
  granularityNs: number;
  /** Adaptive mode: report waiters past this wait ("might starve"); undefined: off. */
  warnNs?: number;
}

export interface Starving {
  waiter: Waiter;
  /** The RT or DEADLINE task that holds the CPU. */
  running: RunningTask;
}

export interface Detection {
  starving: Starving[];
  /** Past warnNs but not yet the threshold, behind an RT or DEADLINE task. */
  early: Starving[];
  /** Delay until the next pass. */
  nextPassNs: number;
}

/** Never sleep less than this: a pass scheduled at "now" must not spin. */
export const MIN_SLEEP_NS = 1_000_000;

/** Reads per threshold of a backend that dates a wait by the first read that sees it. */
export const UNDATED_READS_PER_THRESHOLD = 4;

/**
 * The longest step between two passes. A backend that learns a wait's start
 * from the kernel can sleep the whole granularity. One that dates a wait by
 * the first read that sees it (sched_debug) is late by up to one step, so it
 * reads at least four times per threshold: a task is seen starving by
 * 1.25 x threshold, not threshold + granularity. The defaults (-t 20 -g 5)
 * are unchanged by this.
 */
export function passStepNs(granularityNs: number, horizonNs: number, kernelDatedWaits: boolean): number {
  return kernelDatedWaits ? granularityNs : Math.min(granularityNs, horizonNs / UNDATED_READS_PER_THRESHOLD);
}

/** When detection looks: the threshold, the early-warning point (-M), and the step between snapshots. */
export interface PassTiming {
  thresholdNs: number;
  /** Adaptive mode: half the threshold; undefined otherwise. */
  warnNs: number | undefined;
  /** The earliest wait anything is reported at: warnNs, else the threshold. */
  horizonNs: number;
  stepNs: number;
}

export function passTiming(
  thresholdS: number,
  granularityS: number,
  adaptive: boolean,
  kernelDatedWaits: boolean,
): PassTiming {
  const thresholdNs = thresholdS * 1e9;
  const warnNs = adaptive ? thresholdNs / 2 : undefined;
  const horizonNs = warnNs ?? thresholdNs;
  return { thresholdNs, warnNs, horizonNs, stepNs: passStepNs(granularityS * 1e9, horizonNs, kernelDatedWaits) };
}

/** Prio below 100: an RT task (0..99), or DEADLINE (-1), holds the CPU. */
export function isRtOrDeadline(r: RunningTask | undefined): r is RunningTask {
  return r !== undefined && r.pid !== 0 && r.prio < MAX_RT_PRIO;
}

/**
 * A task starves when it is runnable, not running, on a monitored CPU, and has
 * waited at least the threshold on a CPU where an RT or DEADLINE task runs.
 *
 * The next pass is at the earliest moment a known waiter can cross the
 * threshold, capped by the granularity; a task that starts waiting after this
 * pass cannot cross before now + threshold, which caps it too.
 */
export function detect(
  snap: Snapshot,
  cfg: DetectConfig,
  isBoosted: (pid: number) => boolean,
  /** CPUs that idled since the last pass: nothing on them can have crossed yet (quiet_gate.ts). */
  notNow: ReadonlySet<number> = new Set(),
): Detection {
  const starving: Starving[] = [];
  const early: Starving[] = [];
  const warnNs = cfg.warnNs ?? cfg.thresholdNs;
  let next = Math.min(cfg.granularityNs, warnNs);
  for (const w of snap.waiters) {
    if (!cfg.cpus.has(w.cpu) || isBoosted(w.pid)) continue;
    const toWarn = warnNs - w.waitedNs;
    const left = cfg.thresholdNs - w.waitedNs;
    if (toWarn > 0) next = Math.min(next, toWarn);
    else if (left > 0) next = Math.min(next, left);
    if ((left > 0 && toWarn > 0) || notNow.has(w.cpu)) continue;
    const running = snap.running[w.cpu];
    if (!isRtOrDeadline(running) || running.pid === w.pid) continue;
    (left > 0 ? early : starving).push({ waiter: w, running });
  }
  return { starving, early, nextPassNs: Math.max(next, MIN_SLEEP_NS) };
}

/**
 * The original's verbose line per monitored CPU whose run queue was read:
 * "checking cpu N - rt: R - starving: S", R the RT and DEADLINE tasks on it
 * (running or queued), S the tasks waiting on it.
 */
export function passLines(snap: Snapshot, cpus: readonly number[], notNow: ReadonlySet<number> = new Set()): string[] {
  const waiting = new Map<number, number>();
  const rt = new Map<number, number>();
  for (const w of snap.waiters) {
    waiting.set(w.cpu, (waiting.get(w.cpu) ?? 0) + 1);
    if (w.prio < MAX_RT_PRIO) rt.set(w.cpu, (rt.get(w.cpu) ?? 0) + 1);
  }
  const out: string[] = [];
  const unread = new Set(snap.unread ?? []);
  for (const cpu of cpus) {
    if (unread.has(cpu) || notNow.has(cpu)) continue; // not read, or not judged this pass
    const r = snap.running[cpu];
    const rtHere = (rt.get(cpu) ?? 0) + (isRtOrDeadline(r) ? 1 : 0);
    const n = waiting.get(cpu) ?? 0;
    out.push(`\tchecking cpu ${cpu} - rt: ${rtHere} - starving: ${n}`);
    if (n > 0) out.push(`CPU ${cpu} has ${n} waiting tasks`);
  }
  return out;
}

/**
 * Two sightings of a wait belong to one waiting episode when they date its
 * start alike, give or take the clock-read skew between passes.
 */
export function sameEpisode(sinceNsA: number, sinceNsB: number): boolean {
  return Math.abs(sinceNsA - sinceNsB) < 1e8;
}
