// What to do about each task detect() found, as data: boost it, leave it to
// the DL-server, ignore it (-i/-I), report it only (log-only), hold the boost
// (--systemd and RT throttling came back on), warn early (-M), or forget it
// (gone from /proc). Pure: /proc facts, the ignore lists and the DL-server view
// come in; the daemon carries the decisions out.
import type { RunningTask, Waiter } from "../backends/backend";
import type { NamePattern } from "../config";
import { type DlServerView, dlServerEnabled } from "../kernel/dl_server";
import { PF_KTHREAD, type TaskStat } from "../kernel/proc";
import { isFairPolicy } from "../kernel/sched_attr";
import type { Detection, Starving } from "./detect";

/** What /proc says about a task found waiting; null in the map: it no longer exists. */
export interface TaskFacts {
  stat: TaskStat;
  /** The comm of its thread group leader, read only when -I is given. */
  processName: string | null;
}

export interface DecideInput {
  found: Detection;
  facts: ReadonlyMap<number, TaskFacts | null>;
  ignoreThreads: readonly NamePattern[];
  ignoreProcesses: readonly NamePattern[];
  dl: DlServerView;
  /** --boost-all: fair tasks are boosted where the DL-server serves them too. */
  boostAll: boolean;
  /** A boost policy is in use (not log-only). */
  boosting: boolean;
  /** --systemd, and RT throttling is back on: boosts would fail, the unit owns it. */
  throttlingBackOn: boolean;
}

interface About {
  waiter: Waiter;
  running: RunningTask;
}
interface Known extends About {
  stat: TaskStat;
}

export type TaskDecision =
  | (About & { kind: "gone"; stat: TaskStat | null })
  | (Known & { kind: "ignored"; line: string })
  | (Known & { kind: "left-to-dl-server"; why: string })
  | (Known & { kind: "report" })
  | (Known & { kind: "hold" })
  | (Known & { kind: "boost" })
  | (Known & { kind: "warn-early" });

/** /proc states of a task that can be on a run queue: not a zombie, dead, stopped or traced. */
const RUNNABLE_STATES = new Set(["R", "S", "D", "I"]);

export type DlDecision = { boost: true } | { boost: false; why: string };

/**
 * Fair tasks (SCHED_OTHER, BATCH, IDLE) on a CPU whose DL-server has runtime
 * are left to it. It does nothing for an RT task behind a higher-priority RT
 * task, nor on a CPU where its runtime is 0, nor for sched_ext tasks; where its
 * state is unknown, stalld boosts as the original does.
 */
export function dlServerDecision(policy: number, cpu: number, view: DlServerView, boostAll: boolean): DlDecision {
  if (boostAll || !isFairPolicy(policy)) return { boost: true };
  if (dlServerEnabled(view, cpu) !== true) return { boost: true };
  const c = view.cpus.get(cpu)!;
  return {
    boost: false,
    why: `the DL-server gives fair tasks ${c.runtimeNs / 1e6}/${c.periodNs / 1e6} ms on CPU ${cpu}`,
  };
}

/** The original's line for an ignored task, or null when no -i/-I pattern matches it. */
export function ignoredLine(
  comm: string,
  processName: string | null,
  threads: readonly NamePattern[],
  processes: readonly NamePattern[],
): string | null {
  if (threads.some((r) => r.test(comm))) return `Ignoring the thread ${comm} from consideration for boosting`;
  if (processName !== null && processes.some((r) => r.test(processName)))
    return `Ignoring the thread ${comm} (spawned by ${processName}) from consideration for boosting`;
  return null;
}

function decideOne(s: Starving, early: boolean, input: DecideInput): TaskDecision {
  const { waiter, running } = s;
  const facts = input.facts.get(waiter.pid) ?? null;
  // The backend's record is what says it is queued: a task preempted after it
  // set a sleeping state is queued, yet /proc shows S or D.
  if (!facts || !RUNNABLE_STATES.has(facts.stat.state))
    return { kind: "gone", waiter, running, stat: facts?.stat ?? null };
  const known = { waiter, running, stat: facts.stat };
  const line = ignoredLine(facts.stat.comm, facts.processName, input.ignoreThreads, input.ignoreProcesses);
  if (line !== null) return { ...known, kind: "ignored", line };
  if (early) return { ...known, kind: "warn-early" };
  const dl = dlServerDecision(facts.stat.policy, waiter.cpu, input.dl, input.boostAll);
  if (!dl.boost) return { ...known, kind: "left-to-dl-server", why: dl.why };
  if (!input.boosting) return { ...known, kind: "report" };
  return { ...known, kind: input.throttlingBackOn ? "hold" : "boost" };
}

const isKthread = (d: TaskDecision): boolean => d.stat !== null && (d.stat.flags & PF_KTHREAD) !== 0;

/**
 * The order boosts are made in, which decides who waits when a CPU's bound
 * is full (boost/cpu_share.ts): kernel threads first (what the kernel waits
 * on), then the longest-starving.
 */
export function boostOrder(a: TaskDecision, b: TaskDecision): number {
  const k = Number(isKthread(b)) - Number(isKthread(a));
  return k !== 0 ? k : b.waiter.waitedNs - a.waiter.waitedNs;
}

/** One decision per task found: the starving ones first (in boostOrder), then the early ones. */
export function decide(input: DecideInput): TaskDecision[] {
  return [
    ...input.found.starving.map((s) => decideOne(s, false, input)).sort(boostOrder),
    ...input.found.early.map((s) => decideOne(s, true, input)),
  ];
}
