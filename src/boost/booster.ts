// Boosts: save a task's full sched_attr, set what the boost policy says for a
// bounded time, then put exactly the saved attributes back. Each boost runs on
// its own timers, so boosts on different CPUs overlap and detection never
// waits. While a boost runs, an escalating policy climbs rungs for a task that
// still starves (escalation.ts); a sliced rung switches the task between the
// boost and its own policy every period.
import { SysError } from "../ffi/errno";
import { strerror } from "../ffi/libc";
import { attrEqual, describeAttr, isFairPolicy, policyName, type SchedAttr, type SchedOps } from "../kernel/sched_attr";
import type { Logger } from "../log/logger";
import { checkIntervalMs, judgeProgress, type Progress, StrengthMemory } from "./escalation";
import { type BoostParams, type BoostPolicy, describeRung, ownership, type Rung } from "./policy";
import {
  type BoostEvents,
  type BoostRecords,
  type BoostTarget,
  realTimers,
  type TaskProbe,
  type Timers,
} from "./types";

export type BoostOutcome = "boosted" | "failed" | "gone" | "already";

interface ActiveBoost {
  target: BoostTarget;
  saved: SchedAttr;
  /** What the current rung sets (while on, for a sliced rung). */
  applied: SchedAttr;
  rung: Rung;
  timer: ReturnType<typeof setTimeout>;
  /** A sliced rung: the timer of its next switch. */
  cycle: ReturnType<typeof setTimeout> | null;
  /** The timer of the next look at the task's progress (escalation). */
  check: ReturnType<typeof setTimeout> | null;
  startedMs: number;
  cpuAtStartNs: number | null;
  last: Progress;
}

/** Below this a slice is a blocking sleep: timers cannot time 8-1000 us. */
const BLOCKING_SLICE_NS = 2_000_000;
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

const seconds = (ns: number) => (ns / 1e9).toFixed(3);

export interface BoosterOptions {
  timers?: Timers;
  /** Called after a boost ends on its timer: the task may be starving again. */
  onBoostEnd?: () => void;
  /** Where each boost is written before it is applied (the state directory). */
  records?: BoostRecords | null;
  events?: BoostEvents;
}

export class Booster {
  private readonly active = new Map<number, ActiveBoost>();
  private readonly timers: Timers;
  private readonly onBoostEnd: () => void;
  private readonly records: BoostRecords | null;
  private readonly events: BoostEvents | null;
  /** Where a task's next boost starts when its last one left it starving. */
  private readonly strength = new StrengthMemory();

  constructor(
    readonly policy: BoostPolicy,
    private readonly params: BoostParams,
    private readonly ops: SchedOps,
    private readonly probe: TaskProbe,
    private readonly log: Logger,
    opts: BoosterOptions = {},
  ) {
    this.timers = opts.timers ?? realTimers;
    this.onBoostEnd = opts.onBoostEnd ?? (() => {});
    this.records = opts.records ?? null;
    this.events = opts.events ?? null;
  }

  /** "boost 20000/1000000000 ns for 3 s", for the start-up line. */
  describe(): string {
    const p = this.params;
    return `boost ${p.runtimeNs}/${p.periodNs} ns for ${p.durationMs / 1000} s`;
  }

  isBoosted(pid: number): boolean {
    return this.active.has(pid);
  }

  get count(): number {
    return this.active.size;
  }

  /** Climbing needs the task's state; the FIFO emulation never climbs. */
  private get escalates(): boolean {
    return this.policy.escalates && this.probe.state !== undefined;
  }

  private progress(pid: number): Progress {
    return { state: this.probe.state?.(pid) ?? null, cpuNs: this.probe.cpuTimeNs(pid), atMs: this.timers.nowMs() };
  }

  /** The record a restart after a crash reads; written before the change it describes. */
  private record(t: BoostTarget, saved: SchedAttr, applied: SchedAttr, raisedFrom?: SchedAttr): void {
    this.records?.recordBoost({
      pid: t.pid,
      starttime: t.starttime,
      comm: t.comm,
      cpu: t.cpu,
      method: this.policy.name,
      saved,
      applied,
      raisedFrom,
    });
  }

  private forget(t: BoostTarget): void {
    try {
      this.records?.forgetBoost(t.pid, t.starttime);
    } catch (e) {
      this.log.warn(`could not remove the state record of pid ${t.pid}: ${(e as Error).message}`);
    }
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
    const p = this.params;
    const remembered = this.escalates ? this.strength.get(t.pid, t.starttime, this.timers.nowMs()) : null;
    const rung = remembered ?? this.policy.firstRung(p);
    const applied = this.policy.attr(saved, rung, p);
    try {
      this.record(t, saved, applied);
    } catch (e) {
      // A boost nobody could undo after a crash is not made.
      const why = (e as Error).message;
      this.log.error({
        message: `cannot record the boost of pid ${t.pid} (${t.comm}) in the state directory (${why}): not boosting it`,
        ...fields("boost_unrecorded", t),
      });
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
      this.log.warn({
        message:
          `pid ${t.pid} (${t.comm}) was replaced by another task during its boost; ` +
          "putting its attributes back at once",
        ...fields("pid_replaced", t),
      });
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
    }, p.durationMs);
    const last = this.progress(t.pid);
    const b: ActiveBoost = {
      target: t,
      saved,
      applied,
      rung,
      timer,
      cycle: null,
      check: null,
      startedMs: last.atMs,
      cpuAtStartNs: last.cpuNs,
      last,
    };
    this.active.set(t.pid, b);
    const first = this.policy.firstRung(p);
    const stronger =
      remembered !== null && (remembered.sliced !== first.sliced || remembered.runtimeNs !== first.runtimeNs);
    this.log.info({
      message:
        `boosted pid ${t.pid} (${t.comm}) (cpu ${t.cpu}) using ${policyName(applied.policy)}: ` +
        `was ${describeAttr(saved)}, now ${describeRung(applied, rung, p)} for ${p.durationMs / 1000} s, ` +
        `waited ${seconds(t.waitedNs)} s${stronger ? " (its last boost left it starving: starting stronger)" : ""}`,
      ...fields("boosted", t, saved.policy, applied.policy),
    });
    this.events?.boosted(t, saved);
    if (rung.sliced) this.sliceOn(b);
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
   * is too weak for it (escalation.ts), so it climbs a rung, in one line.
   */
  private checkProgress(b: ActiveBoost): void {
    b.check = null;
    if (this.active.get(b.target.pid) !== b) return;
    const now = this.progress(b.target.pid);
    const verdict = judgeProgress(b.last, now, b.cpuAtStartNs);
    b.last = now;
    if (verdict === "gone") return;
    if (verdict === "starving") this.raise(b, now);
    if (!b.rung.sliced) this.scheduleCheck(b);
  }

  /** One rung up, recorded before it is applied; a refusal keeps the boost as it was. */
  private raise(b: ActiveBoost, now: Progress): void {
    const t = b.target;
    const p = this.params;
    const next = this.policy.nextRung(b.rung, p);
    if (next === null) return;
    const applied = this.policy.attr(b.saved, next, p);
    const to = describeRung(applied, next, p);
    try {
      // A sliced rung's record names the DEADLINE boost below it: a crash in between leaves that.
      this.record(t, b.saved, applied, next.sliced ? b.applied : undefined);
    } catch (e) {
      const why = (e as Error).message;
      this.log.warn({
        message: `could not raise the boost of pid ${t.pid} (${t.comm}): cannot update its state record (${why})`,
        ...fields("raise_unrecorded", t),
      });
      return;
    }
    try {
      this.ops.set(t.pid, applied);
    } catch (e) {
      try {
        this.record(t, b.saved, b.applied);
      } catch {
        // the restore still recognises either record
      }
      this.log.warn({
        message:
          `could not raise the boost of pid ${t.pid} (${t.comm}) to ${next.sliced ? to : `${next.runtimeNs} ns`}: ` +
          `${errText(e)}; it keeps ${b.applied.runtimeNs} ns`,
        ...fields("raise_refused", t),
      });
      return;
    }
    const ranNs = now.cpuNs !== null && b.cpuAtStartNs !== null ? now.cpuNs - b.cpuAtStartNs : null;
    const ran = ranNs !== null ? `, ran ${(ranNs / 1e6).toFixed(3)} ms` : "";
    const fromPolicy = b.applied.policy;
    b.applied = applied;
    b.rung = next;
    this.events?.raised?.(t);
    // At the bound a DEADLINE task that overran is throttled until its next
    // replenishment, whatever its runtime: FIFO slices are not.
    const because = next.sliced ? ` at SCHED_DEADLINE's bound${ran}` : ran;
    this.log.info({
      message:
        `raised the boost of pid ${t.pid} (${t.comm}) (cpu ${t.cpu}) to ${to}: still waiting ` +
        `${((now.atMs - b.startedMs) / 1000).toFixed(2)} s into its boost${because}`,
      ...fields("boost_raised", t, fromPolicy, applied.policy),
      runtime_ns: Number(next.runtimeNs),
    });
    if (next.sliced) this.sliceOn(b);
  }

  /**
   * A sliced rung has just been switched on: off again after its runtime (a
   * blocking sleep when that is below what a timer can time), then on again
   * one period after it went on, until the boost ends.
   */
  private sliceOn(b: ActiveBoost): void {
    const onAtMs = this.timers.nowMs();
    const ns = Number(b.rung.runtimeNs);
    if (ns >= BLOCKING_SLICE_NS) {
      b.cycle = this.timers.set(() => this.sliceOff(b, onAtMs), ns / 1e6);
      return;
    }
    this.timers.sleepNs(ns);
    this.sliceOff(b, onAtMs);
  }

  private sliceOff(b: ActiveBoost, onAtMs: number): void {
    b.cycle = null;
    if (this.active.get(b.target.pid) !== b || !this.setOrDrop(b, b.saved)) return;
    const nextOnMs = onAtMs + Number(this.params.periodNs) / 1e6;
    if (nextOnMs >= b.startedMs + this.params.durationMs) return;
    b.cycle = this.timers.set(() => {
      b.cycle = null;
      if (this.active.get(b.target.pid) === b && this.setOrDrop(b, b.applied)) this.sliceOn(b);
    }, nextOnMs - this.timers.nowMs());
  }

  /** One switch of a sliced rung; false when the task is gone (its boost dropped) or the switch failed. */
  private setOrDrop(b: ActiveBoost, attr: SchedAttr): boolean {
    const pid = b.target.pid;
    try {
      this.ops.set(pid, attr);
      return true;
    } catch (e) {
      if (e instanceof SysError && e.errno === ESRCH) {
        this.drop(b);
        this.log.debug(`pid ${pid} (${b.target.comm}) exited during its boost; nothing to restore`);
        return false;
      }
      // The end-of-boost restore tries again and reports.
      this.log.warn({
        message: `FIFO boost slice of pid ${pid} (${b.target.comm}) failed: ${errText(e)}`,
        ...fields("slice_failed", b.target),
      });
      return false;
    }
  }

  private drop(b: ActiveBoost): void {
    this.active.delete(b.target.pid);
    for (const t of [b.timer, b.cycle, b.check]) if (t) this.timers.clear(t);
    this.forget(b.target);
  }

  private failed(t: BoostTarget, e: unknown, what: string): BoostOutcome {
    if (e instanceof SysError && e.errno === ESRCH) {
      this.log.debug(`pid ${t.pid} (${t.comm}) exited before its boost began; dropped`);
      return "gone";
    }
    this.events?.failed(t, e instanceof SysError ? e.code : "other");
    // The original's wording, which log monitors grep for.
    this.log.error({
      message:
        `boost_with_${this.policy.name} failed to ${what} pid ${t.pid}: ${errText(e)} ` +
        `(${t.comm}, cpu ${t.cpu}, waited ${seconds(t.waitedNs)} s)`,
      ...fields("boost_failed", t),
      errno: e instanceof SysError ? e.code : null,
    });
    return "failed";
  }

  /** Puts the saved attributes back, unless the task is gone or someone else changed it; its record goes either way. */
  restore(pid: number, why: string): void {
    const b = this.active.get(pid);
    if (!b) return;
    try {
      this.restoreTask(b, why);
    } finally {
      this.drop(b);
    }
  }

  private restoreTask(b: ActiveBoost, why: string): void {
    const { target: t } = b;
    const pid = t.pid;
    const heldS = ((this.timers.nowMs() - b.startedMs) / 1000).toFixed(2);
    const st = this.probe.starttime(pid);
    if (st === null || st !== t.starttime) {
      this.log.debug(`pid ${pid} (${t.comm}) exited during its boost; nothing to restore`);
      return;
    }
    try {
      const now = this.ops.get(pid);
      const owned = ownership(b, now);
      // Between two slices a sliced boost leaves the task on its own policy.
      if (owned === "changed" || (owned === "own" && !b.rung.sliced)) {
        this.log.warn({
          message:
            `pid ${pid} (${t.comm}) was changed to ${describeAttr(now)} by someone else during its boost; ` +
            "left as it is",
          ...fields("changed_by_other", t),
        });
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
        message:
          `restored pid ${pid} (${t.comm}) (cpu ${t.cpu}) to ${describeAttr(b.saved)} from ` +
          `${policyName(b.applied.policy)} after ${heldS} s (${why})${ran}${exact}`,
        ...fields("restored", t, b.applied.policy, b.saved.policy),
        ran_ns: ranNs,
      });
      this.events?.restored(t);
      // A whole DEADLINE boost that gave nothing: say so, and the likely reason, instead of claiming a rescue.
      if (ranNs === 0 && why === "boost ended" && !b.rung.sliced) {
        this.log.warn({
          message:
            `pid ${pid} (${t.comm}) got no CPU time from its ${heldS} s SCHED_DEADLINE boost: ` +
            "the kernel may still be " +
            `throttling it for an earlier boost's overrun (a ${b.applied.runtimeNs} ns runtime overruns ` +
            `to the next tick unless HRTICK_DL is on)${this.escalates ? "; its next boost starts stronger" : ""}`,
          ...fields("boost_gave_nothing", t),
        });
      }
    } catch (e) {
      if (e instanceof SysError && e.errno === ESRCH) {
        this.log.debug(`pid ${pid} (${t.comm}) exited during its boost; nothing to restore`);
        return;
      }
      this.log.error({
        message:
          `restore_policy: failed to restore sched policy for pid ${pid}: ${errText(e)} ` + `(${t.comm}, cpu ${t.cpu})`,
        ...fields("restore_failed", t),
      });
    }
  }

  /** A task still starving as its boost ends starts the next one where this one got to; one that ran starts afresh. */
  private rememberStrength(b: ActiveBoost): void {
    if (!this.escalates) return;
    const t = b.target;
    if (judgeProgress(b.last, this.progress(t.pid), b.cpuAtStartNs) === "starving") {
      const next = this.policy.nextRung(b.rung, this.params) ?? b.rung;
      this.strength.remember(t.pid, t.starttime, next, this.timers.nowMs());
    } else this.strength.forget(t.pid, t.starttime);
  }

  /** Synchronous: called from signal and exit handlers. */
  restoreAll(why: string): void {
    for (const pid of [...this.active.keys()]) this.restore(pid, why);
  }
}
