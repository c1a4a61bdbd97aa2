// Boosts: save a task's full sched_attr, switch it to SCHED_DEADLINE (or the
// SCHED_FIFO emulation of it) for a bounded time, then put exactly the saved
// attributes back. Each boost runs on its own timers, so boosts on different
// CPUs overlap and detection never waits.
import { SysError } from "../ffi/errno";
import { strerror } from "../ffi/libc";
import { sleepNs } from "../ffi/process";
import type { Logger } from "../log/logger";
import { checkIntervalMs, judgeProgress, nextRung, type Progress, type Rung, StrengthMemory } from "./escalation";
import {
  attrEqual,
  describeAttr,
  isFairPolicy,
  kernelSchedOps,
  policyName,
  SCHED_DEADLINE,
  SCHED_FIFO,
  SCHED_FLAG_RESET_ON_FORK,
  type SchedAttr,
  type SchedOps,
} from "./sched_attr";

export type BoostMethod = "deadline" | "fifo";

/** The original's FIFO boost priority. */
export const FIFO_BOOST_PRIORITY = 98;

export interface BoostParams {
  method: BoostMethod;
  runtimeNs: bigint;
  periodNs: bigint;
  durationMs: number;
}

export interface BoostTarget {
  pid: number;
  /** Its process (for the JSON log fields). */
  tgid?: number;
  comm: string;
  cpu: number;
  waitedNs: number;
  /** /proc starttime at detection: guards the restore against pid reuse. */
  starttime: number;
  /** For a fair task: whether it had a slice of its own (undefined: the kernel has no such thing). */
  customSlice?: boolean;
}

export type BoostOutcome = "boosted" | "failed" | "gone" | "already";

/** Where boosts are written before they are applied (journal.ts), so a crash leaves nothing boosted for good. */
export interface BoostJournal {
  recordBoost(r: {
    pid: number;
    starttime: number;
    comm: string;
    cpu: number;
    method: BoostMethod;
    saved: SchedAttr;
    applied: SchedAttr;
    raisedFrom?: SchedAttr;
  }): void;
  forgetBoost(pid: number, starttime: number): void;
}

interface ActiveBoost {
  target: BoostTarget;
  saved: SchedAttr;
  /** What the boost sets (during a FIFO slice, for FIFO boosts). */
  applied: SchedAttr;
  /** Its escalation rung (escalation.ts); FIFO boosts (-F) stay on their first. */
  rung: Rung;
  timer: ReturnType<typeof setTimeout>;
  /** FIFO emulation and the FIFO rung: the timer of the next slice start or end. */
  cycle: ReturnType<typeof setTimeout> | null;
  startedMs: number;
  cpuAtStartNs: number | null;
  /** DEADLINE: the timer of the next look at the task's progress (escalation.ts). */
  check: ReturnType<typeof setTimeout> | null;
  last: Progress;
}

export interface Timers {
  set(fn: () => void, ms: number): ReturnType<typeof setTimeout>;
  clear(t: ReturnType<typeof setTimeout>): void;
  nowMs(): number;
  /** Blocks for a FIFO slice (at most the 1 ms runtime limit): timers are too coarse for 8-1000 us. */
  sleepNs(ns: number): void;
}

const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (t) => clearTimeout(t),
  nowMs: () => performance.now(),
  sleepNs: (ns) => sleepNs(ns),
};

/** What the booster reads about a task: its identity and the CPU time it got. */
export interface TaskProbe {
  /** /proc starttime, null when the pid is gone: guards restores against pid reuse. */
  starttime(pid: number): number | null;
  /** CPU time used so far (ns), null when unknown. */
  cpuTimeNs(pid: number): number | null;
  /** /proc state letter (R, S, D, ...), null when gone; without it a boost is never raised. */
  state?(pid: number): string | null;
}

const ESRCH = 3;

function errText(e: unknown): string {
  if (e instanceof SysError) return `${strerror(e.errno)} (${e.code})`;
  return (e as Error).message;
}

/** The JSON fields of a boost event (--log-format json). */
function fields(event: string, t: BoostTarget, before?: number, after?: number) {
  return {
    event,
    pid: t.pid,
    tgid: t.tgid ?? null,
    comm: t.comm,
    cpu: t.cpu,
    waited_ns: Math.round(t.waitedNs),
    policy_before: before === undefined ? null : policyName(before),
    policy_after: after === undefined ? null : policyName(after),
  };
}

function seconds(ns: number): string {
  return (ns / 1e9).toFixed(3);
}

/** What happened, for metrics. */
export interface BoostEvents {
  boosted(t: BoostTarget, saved: SchedAttr): void;
  failed(t: BoostTarget, code: string): void;
  restored(t: BoostTarget): void;
  /** A boost's runtime went up (escalation.ts). */
  raised?(t: BoostTarget): void;
}

export interface BoosterOptions {
  ops?: SchedOps;
  timers?: Timers;
  /** Called after a boost ends on its timer: the task may be starving again. */
  onBoostEnd?: () => void;
  journal?: BoostJournal | null;
  events?: BoostEvents;
}

export class Booster {
  private readonly active = new Map<number, ActiveBoost>();
  private readonly ops: SchedOps;
  private readonly timers: Timers;
  private readonly onBoostEnd: () => void;
  private readonly journal: BoostJournal | null;
  private readonly events: BoostEvents | null;
  /** Where a task's next boost starts when its last one left it starving. */
  private readonly strength = new StrengthMemory();

  constructor(
    private readonly params: BoostParams,
    private readonly log: Logger,
    private readonly probe: TaskProbe,
    opts: BoosterOptions = {},
  ) {
    this.ops = opts.ops ?? kernelSchedOps;
    this.timers = opts.timers ?? realTimers;
    this.onBoostEnd = opts.onBoostEnd ?? (() => {});
    this.journal = opts.journal ?? null;
    this.events = opts.events ?? null;
  }

  private forget(t: BoostTarget): void {
    try {
      this.journal?.forgetBoost(t.pid, t.starttime);
    } catch (e) {
      this.log.warn(`could not remove the state record of pid ${t.pid}: ${(e as Error).message}`);
    }
  }

  /** How a boost on `rung` is made: the FIFO rung is the FIFO emulation's way. */
  private methodOn(rung: Rung): BoostMethod {
    return this.params.method === "fifo" || rung.fifo ? "fifo" : "deadline";
  }

  /** What a boost sets. RESET_ON_FORK: a DEADLINE task that forks gets EAGAIN without it. */
  private boostAttr(saved: SchedAttr, rung: Rung): SchedAttr {
    const p = this.params;
    if (this.methodOn(rung) === "fifo")
      return {
        policy: SCHED_FIFO,
        flags: SCHED_FLAG_RESET_ON_FORK,
        nice: saved.nice,
        priority: FIFO_BOOST_PRIORITY,
        runtimeNs: 0n,
        deadlineNs: 0n,
        periodNs: 0n,
      };
    return {
      policy: SCHED_DEADLINE,
      flags: SCHED_FLAG_RESET_ON_FORK,
      nice: saved.nice,
      priority: 0,
      runtimeNs: rung.runtimeNs,
      deadlineNs: p.periodNs,
      periodNs: p.periodNs,
    };
  }

  /** Escalation applies to DEADLINE boosts, and needs the task's state. */
  private get escalates(): boolean {
    return this.params.method === "deadline" && this.probe.state !== undefined;
  }

  private progress(pid: number): Progress {
    return { state: this.probe.state?.(pid) ?? null, cpuNs: this.probe.cpuTimeNs(pid), atMs: this.timers.nowMs() };
  }

  /** Whether `now` is what this boost left on the task (so nobody else changed it). */
  private isOurs(b: ActiveBoost, now: SchedAttr): boolean {
    if (this.methodOn(b.rung) === "fifo")
      return (
        (now.policy === SCHED_FIFO && now.priority === FIFO_BOOST_PRIORITY) ||
        (now.policy === b.saved.policy &&
          now.priority === b.saved.priority &&
          (!isFairPolicy(now.policy) || now.nice === b.saved.nice))
      );
    return (
      now.policy === SCHED_DEADLINE && now.runtimeNs === b.applied.runtimeNs && now.periodNs === b.applied.periodNs
    );
  }

  isBoosted(pid: number): boolean {
    return this.active.has(pid);
  }

  get count(): number {
    return this.active.size;
  }

  boost(t: BoostTarget): BoostOutcome {
    if (this.active.has(t.pid)) return "already";
    let saved: SchedAttr;
    try {
      saved = this.ops.get(t.pid);
    } catch (e) {
      return this.failed(t, e, "read the policy of");
    }
    // 6.12+ reports a fair task's current slice as sched_runtime; writing it back
    // would pin a custom slice on a task that followed the default. 0 restores that.
    if (isFairPolicy(saved.policy) && t.customSlice === false) saved = { ...saved, runtimeNs: 0n };
    const remembered = this.escalates ? this.strength.get(t.pid, t.starttime, this.timers.nowMs()) : null;
    const rung = remembered ?? { fifo: false, runtimeNs: this.params.runtimeNs };
    const method = this.methodOn(rung);
    const applied = this.boostAttr(saved, rung);
    try {
      this.journal?.recordBoost({
        pid: t.pid,
        starttime: t.starttime,
        comm: t.comm,
        cpu: t.cpu,
        method,
        saved,
        applied,
      });
    } catch (e) {
      // A boost nobody could undo after a crash is not made.
      this.log.error(
        `cannot record the boost of pid ${t.pid} (${t.comm}) in the state directory (${(e as Error).message}): not boosting it`,
      );
      this.events?.failed(t, "state");
      return "failed";
    }
    try {
      this.ops.set(t.pid, applied);
    } catch (e) {
      this.forget(t);
      return this.failed(t, e, "boost");
    }
    // The pid could have been reused between detection and the calls above.
    if (this.probe.starttime(t.pid) !== t.starttime) {
      this.log.warn(
        `pid ${t.pid} (${t.comm}) was replaced by another task while being boosted; putting its attributes back at once`,
      );
      try {
        this.ops.set(t.pid, saved);
      } catch {
        // gone again: nothing left to undo
      }
      this.forget(t);
      return "gone";
    }
    const timer = this.timers.set(() => {
      this.restore(t.pid, "boost ended");
      this.onBoostEnd();
    }, this.params.durationMs);
    const last = this.progress(t.pid);
    const b: ActiveBoost = {
      target: t,
      saved,
      applied,
      rung,
      timer,
      cycle: null,
      startedMs: last.atMs,
      cpuAtStartNs: last.cpuNs,
      check: null,
      last,
    };
    this.active.set(t.pid, b);
    const p = this.params;
    const how = method === "fifo" ? ` for ${rung.runtimeNs} ns every ${p.periodNs} ns` : "";
    const why =
      remembered !== null && (remembered.fifo || remembered.runtimeNs !== p.runtimeNs)
        ? " (its last boost left it starving: starting stronger)"
        : "";
    this.log.info({
      message:
        `boosted pid ${t.pid} (${t.comm}) (cpu ${t.cpu}) using ${policyName(applied.policy)}: was ${describeAttr(saved)}, ` +
        `now ${describeAttr(applied)}${how} for ${p.durationMs / 1000} s, waited ${seconds(t.waitedNs)} s${why}`,
      ...fields("boosted", t, saved.policy, applied.policy),
    });
    this.events?.boosted(t, saved);
    if (p.method === "fifo") this.fifoSlice(b, true);
    else if (rung.fifo) this.rungOffIn(b);
    else if (this.escalates) this.scheduleCheck(b);
    return "boosted";
  }

  private scheduleCheck(b: ActiveBoost): void {
    const ms = checkIntervalMs(this.params.periodNs);
    if (this.timers.nowMs() + ms < b.startedMs + this.params.durationMs)
      b.check = this.timers.set(() => this.checkProgress(b), ms);
  }

  /**
   * One look at a boosted task: still runnable and barely run means the boost
   * is too weak for it (escalation.ts), so its runtime goes up, in one line.
   */
  private checkProgress(b: ActiveBoost): void {
    b.check = null;
    const pid = b.target.pid;
    if (this.active.get(pid) !== b) return;
    const now = this.progress(pid);
    const verdict = judgeProgress(b.last, now, b.cpuAtStartNs);
    b.last = now;
    if (verdict === "gone") return;
    if (verdict === "starving") this.raise(b, now);
    if (!b.rung.fifo) this.scheduleCheck(b);
  }

  /** One rung up (escalation.ts), recorded before it is applied; a refusal keeps the boost as it was. */
  private raise(b: ActiveBoost, now: Progress): void {
    const t = b.target;
    const p = this.params;
    const ranNs = now.cpuNs !== null && b.cpuAtStartNs !== null ? now.cpuNs - b.cpuAtStartNs : null;
    const next = nextRung(b.rung, p.runtimeNs, p.periodNs);
    if (next === null) return;
    const applied = this.boostAttr(b.saved, next);
    const ran = ranNs !== null ? `, ran ${(ranNs / 1e6).toFixed(3)} ms` : "";
    const record = (method: BoostMethod, a: SchedAttr, raisedFrom?: SchedAttr) =>
      this.journal?.recordBoost({
        pid: t.pid,
        starttime: t.starttime,
        comm: t.comm,
        cpu: t.cpu,
        method,
        saved: b.saved,
        applied: a,
        raisedFrom,
      });
    const to = next.fifo
      ? `SCHED_FIFO prio ${FIFO_BOOST_PRIORITY} for ${next.runtimeNs} ns every ${p.periodNs} ns`
      : `SCHED_DEADLINE ${next.runtimeNs}/${p.periodNs} ns`;
    try {
      // The record says what a restart after a crash recognises as ours: written first.
      record(this.methodOn(next), applied, next.fifo ? b.applied : undefined);
    } catch (e) {
      this.log.warn(
        `could not raise the boost of pid ${t.pid} (${t.comm}): cannot update its state record (${(e as Error).message})`,
      );
      return;
    }
    try {
      this.ops.set(t.pid, applied);
    } catch (e) {
      try {
        record(this.methodOn(b.rung), b.applied);
      } catch {
        // the restore still recognises either record
      }
      this.log.warn(
        `could not raise the boost of pid ${t.pid} (${t.comm}) to ${next.fifo ? to : `${next.runtimeNs} ns`}: ${errText(e)}; it keeps ${b.applied.runtimeNs} ns`,
      );
      return;
    }
    b.applied = applied;
    b.rung = next;
    this.events?.raised?.(t);
    // At the bound a DEADLINE task that overran is throttled until its next
    // replenishment, whatever its runtime: FIFO slices are not.
    const because = next.fifo ? ` at SCHED_DEADLINE's bound${ran}` : ran;
    this.log.info({
      message:
        `raised the boost of pid ${t.pid} (${t.comm}) (cpu ${t.cpu}) to ${to}: still waiting ` +
        `${((now.atMs - b.startedMs) / 1000).toFixed(2)} s into its boost${because}`,
      ...fields("boost_raised", t, SCHED_DEADLINE, applied.policy),
      runtime_ns: Number(next.runtimeNs),
    });
    if (next.fifo) this.rungOffIn(b);
  }

  /**
   * The FIFO rung: FIFO for the rung's runtime (long enough for a timer), the
   * task's own policy for the rest of the period, until the boost ends. The
   * task is on FIFO now; its slice ends one runtime later.
   */
  private rungOffIn(b: ActiveBoost): void {
    b.cycle = this.timers.set(() => this.rungSwitch(b, false), Number(b.rung.runtimeNs) / 1e6);
  }

  private rungSwitch(b: ActiveBoost, on: boolean): void {
    b.cycle = null;
    if (this.active.get(b.target.pid) !== b || !this.setOrDrop(b, on ? b.applied : b.saved)) return;
    if (on) return this.rungOffIn(b);
    const restMs = Number(this.params.periodNs - b.rung.runtimeNs) / 1e6;
    if (this.timers.nowMs() + restMs < b.startedMs + this.params.durationMs)
      b.cycle = this.timers.set(() => this.rungSwitch(b, true), restMs);
  }

  /** One switch of a sliced boost; false when the task is gone (its boost dropped) or the switch failed (the restore reports). */
  private setOrDrop(b: ActiveBoost, attr: SchedAttr): boolean {
    const pid = b.target.pid;
    try {
      this.ops.set(pid, attr);
      return true;
    } catch (e) {
      if (e instanceof SysError && e.errno === ESRCH) {
        this.active.delete(pid);
        this.timers.clear(b.timer);
        if (b.check) this.timers.clear(b.check);
        this.forget(b.target);
        this.log.debug(`pid ${pid} (${b.target.comm}) exited during its boost; nothing to restore`);
        return false;
      }
      this.log.warn(`FIFO boost slice of pid ${pid} (${b.target.comm}) failed: ${errText(e)}`);
      return false;
    }
  }

  /**
   * FIFO emulation of the DEADLINE bandwidth: FIFO for `runtime`, the task's
   * own policy for the rest of the period, until the boost ends.
   */
  private fifoSlice(b: ActiveBoost, first = false): void {
    const pid = b.target.pid;
    b.cycle = null;
    if (this.active.get(pid) !== b) return;
    // A failed switch: the end-of-boost restore tries again and reports.
    if (!first && !this.setOrDrop(b, b.applied)) return;
    this.timers.sleepNs(Number(this.params.runtimeNs));
    if (!this.setOrDrop(b, b.saved)) return;
    const periodMs = Number(this.params.periodNs) / 1e6;
    if (this.timers.nowMs() + periodMs < b.startedMs + this.params.durationMs)
      b.cycle = this.timers.set(() => this.fifoSlice(b), periodMs);
  }

  private failed(t: BoostTarget, e: unknown, what: string): BoostOutcome {
    if (e instanceof SysError && e.errno === ESRCH) {
      this.log.debug(`pid ${t.pid} (${t.comm}) exited before it could be boosted; dropped`);
      return "gone";
    }
    this.events?.failed(t, e instanceof SysError ? e.code : "other");
    // The original's wording, which log monitors grep for.
    this.log.error({
      message: `boost_with_${this.params.method} failed to ${what === "boost" ? "boost" : what} pid ${t.pid}: ${errText(e)} (${t.comm}, cpu ${t.cpu}, waited ${seconds(t.waitedNs)} s)`,
      ...fields("boost_failed", t),
      errno: e instanceof SysError ? e.code : null,
    });
    return "failed";
  }

  /** Puts the saved attributes back, unless the task is gone or was changed by someone else; its record goes either way. */
  restore(pid: number, why: string): void {
    const b = this.active.get(pid);
    if (!b) return;
    this.active.delete(pid);
    this.timers.clear(b.timer);
    if (b.cycle) this.timers.clear(b.cycle);
    if (b.check) this.timers.clear(b.check);
    try {
      this.restoreTask(b, why);
    } finally {
      this.forget(b.target);
    }
  }

  private restoreTask(b: ActiveBoost, why: string): void {
    const pid = b.target.pid;
    const { target: t } = b;
    const heldS = ((this.timers.nowMs() - b.startedMs) / 1000).toFixed(2);
    const st = this.probe.starttime(pid);
    if (st === null || st !== t.starttime) {
      this.log.debug(`pid ${pid} (${t.comm}) exited during its boost; nothing to restore`);
      return;
    }
    try {
      const now = this.ops.get(pid);
      if (!this.isOurs(b, now)) {
        this.log.warn(
          `pid ${pid} (${t.comm}) was changed to ${describeAttr(now)} by someone else during its boost; left as it is`,
        );
        return;
      }
      const cpuNow = this.probe.cpuTimeNs(pid);
      if (why === "boost ended") this.rememberStrength(b);
      this.ops.set(pid, b.saved);
      const check = this.ops.get(pid);
      // A fair task back on the default slice reads back that slice as its runtime.
      const expected = isFairPolicy(b.saved.policy) && b.saved.runtimeNs === 0n ? { ...check, runtimeNs: 0n } : check;
      const exact = attrEqual(expected, b.saved) ? "" : ` (kernel reports ${describeAttr(check)})`;
      const ranNs = cpuNow !== null && b.cpuAtStartNs !== null ? cpuNow - b.cpuAtStartNs : null;
      const ran = ranNs === null ? "" : `, ran ${(ranNs / 1e6).toFixed(3)} ms`;
      this.log.info({
        message: `restored pid ${pid} (${t.comm}) (cpu ${t.cpu}) to ${describeAttr(b.saved)} from ${policyName(b.applied.policy)} after ${heldS} s (${why})${ran}${exact}`,
        ...fields("restored", t, b.applied.policy, b.saved.policy),
        ran_ns: ranNs,
      });
      this.events?.restored(t);
      // A full boost that gave nothing: say so, and the likely reason, instead of claiming a rescue.
      if (ranNs === 0 && why === "boost ended" && this.methodOn(b.rung) === "deadline") {
        this.log.warn(
          `pid ${pid} (${t.comm}) got no CPU time from its ${heldS} s SCHED_DEADLINE boost: the kernel may still be ` +
            `throttling it for an earlier boost's overrun (a ${b.applied.runtimeNs} ns runtime overruns to the next tick unless HRTICK_DL is on)` +
            (this.escalates ? "; its next boost starts stronger" : ""),
        );
      }
    } catch (e) {
      if (e instanceof SysError && e.errno === ESRCH) {
        this.log.debug(`pid ${pid} (${t.comm}) exited during its boost; nothing to restore`);
        return;
      }
      this.log.error(
        `restore_policy: failed to restore sched policy for pid ${pid}: ${errText(e)} (${t.comm}, cpu ${t.cpu})`,
      );
    }
  }

  /** A task still starving as its boost ends starts the next one where this one got to; one that ran starts afresh. */
  private rememberStrength(b: ActiveBoost): void {
    if (!this.escalates) return;
    const t = b.target;
    const verdict = judgeProgress(b.last, this.progress(t.pid), b.cpuAtStartNs);
    if (verdict === "starving") {
      const next = nextRung(b.rung, this.params.runtimeNs, this.params.periodNs) ?? b.rung;
      this.strength.remember(t.pid, t.starttime, next, this.timers.nowMs());
    } else this.strength.forget(t.pid, t.starttime);
  }

  /** Synchronous: called from signal and exit handlers. */
  restoreAll(why: string): void {
    for (const pid of [...this.active.keys()]) this.restore(pid, why);
  }
}
