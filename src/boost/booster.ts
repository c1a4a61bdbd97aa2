// Boosts: save a task's full sched_attr, set what the boost policy says for a
// bounded time, then put exactly the saved attributes back, whatever the task
// did meanwhile. Each boost runs on its own timers, so boosts on different
// CPUs overlap and detection never waits. While a DEADLINE boost runs, a task
// in debt or getting nothing climbs rungs (escalation.ts); all boosts on a CPU
// together stay within its share (cpu_share.ts), and a task found on another
// CPU ends its boost. A sliced rung (-F) switches the task between FIFO 98
// and its own policy every period, checking first that it is still the task
// boosted, where it was, as stalld left it.
import { SysError } from "../ffi/errno";
import { strerror } from "../ffi/libc";
import {
  attrEqual,
  describeAttr,
  isFairPolicy,
  policyName,
  SCHED_DEADLINE,
  type SchedAttr,
  type SchedOps,
} from "../kernel/sched_attr";
import type { Logger } from "../log/logger";
import { CpuShare } from "./cpu_share";
import {
  checkIntervalMs,
  judgeLook,
  kthreadFirstRuntimeNs,
  type Ledger,
  LookBudget,
  maxRuntimeNs,
  nextLookMs,
  type Progress,
  replenish,
  rungCoveringDebt,
  rungFor,
  StrengthMemory,
  startLedger,
  type Verdict,
} from "./escalation";
import { type BoostParams, type BoostPolicy, describeRung, type Ownership, ownership, type Rung } from "./policy";
import {
  type BoostEvents,
  type BoostRecords,
  type BoostTarget,
  realTimers,
  type TaskProbe,
  type Timers,
} from "./types";

/**
 * "bounded": the per-CPU bound is full; the task waits for a later pass.
 * "resting": its last boost gave it nothing at all; the next comes a boost's
 * length after that one ended.
 */
export type BoostOutcome = "boosted" | "failed" | "gone" | "already" | "bounded" | "resting";

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
  /** The runtime the kernel has granted since the boost began (escalation.ts). */
  ledger: Ledger;
  /** How often it was set again for running nothing while queued (rearm). */
  rearms: number;
  /** The interval of its looks now (nextLookMs). */
  lookEveryMs: number;
}

/** Re-arms of one boost (rearm): one clears a stale throttle; more than a few, nothing would. */
const MAX_REARMS = 3;
/** The smallest SCHED_DEADLINE runtime the kernel takes (1 << DL_SCALE). */
const MIN_DL_RUNTIME_NS = 1024n;
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
  /** The per-CPU bound in percent (cpu_share.ts). */
  sharePct?: number;
}

export class Booster {
  private readonly active = new Map<number, ActiveBoost>();
  private readonly timers: Timers;
  private readonly onBoostEnd: () => void;
  private readonly records: BoostRecords | null;
  private readonly events: BoostEvents | null;
  /** Where a task's next boost starts when its last one gave it nothing. */
  private readonly strength = new StrengthMemory();
  /** What the boosts on each CPU hold together. */
  readonly share: CpuShare;
  /** CPUs where a raise held back by the bound was said, until a boost there ends. */
  private readonly raiseBoundedSaid = new Set<number>();
  /** The time looks may take (escalation.ts): they give way to restores and passes. */
  readonly looks = new LookBudget();
  /** Per CPU, the tasks the bound left waiting at the last pass (the daemon says). */
  private waiting = new Map<number, number>();

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
    this.share = new CpuShare(params.periodNs, opts.sharePct);
  }

  /** "boost 20000/1000000000 ns for 3 s", for the start-up line. */
  describe(): string {
    const p = this.params;
    return `boost ${p.runtimeNs}/${p.periodNs} ns for ${p.durationMs / 1000} s`;
  }

  /** After each pass: how many starving tasks the per-CPU bound left waiting, per CPU. */
  noteWaiting(perCpu: ReadonlyMap<number, number>): void {
    this.waiting = new Map(perCpu);
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
    const cpuNs = this.probe.cpuTimeNs(pid);
    if (this.probe.stateAndCpu) {
      const sc = this.probe.stateAndCpu(pid);
      return { state: sc?.state ?? null, cpuNs, cpu: sc?.cpu ?? null, atMs: this.timers.nowMs() };
    }
    return {
      state: this.probe.state?.(pid) ?? null,
      cpuNs,
      cpu: this.probe.cpu?.(pid) ?? null,
      atMs: this.timers.nowMs(),
    };
  }

  /** The pid still names the task boosted (a reused pid is another task): checked before each write. */
  private sameTask(t: BoostTarget): boolean {
    return this.probe.starttime(t.pid) === t.starttime;
  }

  /** The record a restart after a crash reads; written before the change it describes. */
  private record(t: BoostTarget, saved: SchedAttr, applied: SchedAttr): void {
    this.records?.recordBoost({
      pid: t.pid,
      starttime: t.starttime,
      comm: t.comm,
      cpu: t.cpu,
      method: this.policy.name,
      saved,
      applied,
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
    const p = this.params;
    const asked = this.policy.firstRung(p);
    const first =
      t.kthread && this.policy.escalates && !asked.sliced
        ? { ...asked, runtimeNs: kthreadFirstRuntimeNs(p.runtimeNs, p.periodNs) }
        : asked;
    // Before any syscall: in a flood, most tasks stop here, and a pass stays cheap.
    const room = this.share.roomNs(t.cpu);
    if (room < first.runtimeNs) {
      this.events?.bounded?.(t, "boost");
      return "bounded";
    }
    const remembered = this.escalates ? this.strength.get(t.pid, t.starttime, this.timers.nowMs()) : null;
    // A whole boost, re-arms included, gave it nothing: its deadline lies far ahead (escalation.ts), and
    // another boost at once would hold a share of the CPU for nothing. It rests for a boost's length.
    const endedAtMs = remembered ? this.strength.endedAtMs(t.pid, t.starttime, this.timers.nowMs()) : null;
    if (endedAtMs !== null && this.timers.nowMs() - endedAtMs < p.durationMs) {
      this.log.debug(
        `pid ${t.pid} (${t.comm}): its last boost gave it nothing; the next comes ` +
          `${((endedAtMs + p.durationMs - this.timers.nowMs()) / 1000).toFixed(2)} s from now`,
      );
      return "resting";
    }
    let saved: SchedAttr;
    try {
      saved = this.ops.get(t.pid);
    } catch (e) {
      return this.failed(t, e, "read the policy of");
    }
    // 6.12+ reports a fair task's current slice as sched_runtime; writing it back
    // would pin a custom slice on a task that followed the default. 0 restores that.
    if (isFairPolicy(saved.policy) && t.customSlice === false) saved = { ...saved, runtimeNs: 0n };
    // Starting stronger, like a raise, keeps room for the tasks not boosted yet.
    const wanted = remembered ?? first;
    const roomAbove = room - BigInt((this.waiting.get(t.cpu) ?? 0) + 1) * first.runtimeNs;
    const limit = roomAbove > first.runtimeNs ? roomAbove : first.runtimeNs;
    const rung = wanted.runtimeNs > limit ? { ...wanted, runtimeNs: limit } : wanted;
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
      ledger: startLedger(rung.runtimeNs, last.atMs, p.periodNs),
      rearms: 0,
      lookEveryMs: checkIntervalMs(p.periodNs),
    };
    this.active.set(t.pid, b);
    this.share.charge(t.cpu, rung.runtimeNs);
    const stronger = rung.runtimeNs !== first.runtimeNs;
    this.log.info({
      message:
        `boosted pid ${t.pid} (${t.comm}) (cpu ${t.cpu}) using ${policyName(applied.policy)}: ` +
        `was ${describeAttr(saved)}, now ${describeRung(applied, rung, p)} for ${p.durationMs / 1000} s, ` +
        `waited ${seconds(t.waitedNs)} s${stronger ? this.strongerWhy(rung, first) : ""}`,
      ...fields("boosted", t, saved.policy, applied.policy),
    });
    this.events?.boosted(t, saved);
    if (rung.sliced) this.sliceOn(b);
    else if (this.escalates) this.scheduleCheck(b);
    return "boosted";
  }

  private scheduleCheck(b: ActiveBoost): void {
    const ms = b.lookEveryMs;
    if (this.timers.nowMs() + ms < b.startedMs + this.params.durationMs)
      b.check = this.timers.set(() => this.checkProgress(b), ms);
  }

  /**
   * One look at a boosted task: in debt, or given nothing, it climbs a rung
   * (escalation.ts), in one line; found on another CPU, its boost ends.
   */
  private checkProgress(b: ActiveBoost): void {
    b.check = null;
    if (this.active.get(b.target.pid) !== b) return;
    const startMs = this.timers.nowMs();
    // Over the budget: put off, at a longer interval.
    const firstPeriod = startMs - b.startedMs < Number(this.params.periodNs) / 1e6;
    if (!this.looks.allows(startMs, firstPeriod)) {
      b.lookEveryMs = nextLookMs(b.lookEveryMs, false, this.params.periodNs);
      this.scheduleCheck(b);
      return;
    }
    try {
      if (this.look(b)) this.scheduleCheck(b);
    } finally {
      this.looks.spend(this.timers.nowMs() - startMs);
    }
  }

  /** The look itself; returns whether the boost goes on being looked at. */
  private look(b: ActiveBoost): boolean {
    const now = this.progress(b.target.pid);
    // The runtime in effect until now is what each boundary passed added.
    b.ledger = replenish(b.ledger, now.atMs, b.rung.runtimeNs, this.params.periodNs);
    const verdict = judgeLook(now, b.target.cpu, b.cpuAtStartNs, b.ledger);
    b.last = now;
    if (verdict.kind === "gone") return false;
    if (verdict.kind === "moved") {
      this.restore(b.target.pid, `moved to CPU ${verdict.cpu} during its boost`);
      return false;
    }
    // Queued and given nothing: no rung helps a stale DEADLINE state; setting the boost again does (rearm).
    // A few times: a deadline pushed far ahead by an earlier debt is not stale, and nothing lifts it.
    if (verdict.kind === "ran-nothing" && now.state === "R") {
      // Not before the other boosts on its CPU could have run their runtimes: under EDF a task boosted
      // last waits behind them (a flood), and that is no stale state.
      const othersMs = Number(this.share.usedNs(b.target.cpu) - b.rung.runtimeNs) / 1e6;
      if (now.atMs - b.startedMs < othersMs + checkIntervalMs(this.params.periodNs)) {
        b.lookEveryMs = nextLookMs(b.lookEveryMs, true, this.params.periodNs);
        return true;
      }
      if (b.rearms < MAX_REARMS) {
        b.lookEveryMs = nextLookMs(b.lookEveryMs, true, this.params.periodNs);
        return this.rearm(b, now);
      }
      b.lookEveryMs = nextLookMs(b.lookEveryMs, false, this.params.periodNs);
      return true;
    }
    const next = rungFor(verdict, b.rung, this.params.runtimeNs, this.params.periodNs);
    const before = b.rung.runtimeNs;
    if (next) this.raise(b, next, now, verdict);
    if (this.active.get(b.target.pid) !== b) return false;
    b.lookEveryMs = nextLookMs(b.lookEveryMs, b.rung.runtimeNs !== before, this.params.periodNs);
    return true;
  }

  /**
   * A boosted task still queued that has run nothing at all: the kernel has
   * not enqueued it. A task that left an earlier DEADLINE boost throttled
   * keeps that throttle after its replenishment timer fired while it was not
   * DEADLINE (the timer then does nothing), and a throttled task is never
   * enqueued again, at any runtime (6.1-rt lab: rcuc/1 and ktimers/1 at
   * 0.000 ms for whole boosts). Leaving DEADLINE while queued makes the
   * kernel clear that state once its 0-lag time (deadline + debt x period /
   * runtime) has passed: so the boost is set again with the largest runtime
   * the CPU's bound has room for, up to the cap (a near 0-lag time), then
   * the saved attributes, then the boost. The task
   * runs nothing in between (not enqueued) and the record still names the
   * saved attributes. Returns false when the boost ended instead.
   */
  private rearm(b: ActiveBoost, now: Progress): boolean {
    const t = b.target;
    const p = this.params;
    if (!this.sameTask(t)) return false;
    let current: SchedAttr;
    try {
      current = this.ops.get(t.pid);
    } catch {
      return false;
    }
    if (ownership(b, current) !== "boost") {
      this.restore(t.pid, `its policy changed to ${describeAttr(current)} during its boost`);
      return false;
    }
    // The larger the runtime, the nearer the 0-lag time; within what the CPU's bound has left.
    const top = maxRuntimeNs(p.runtimeNs, p.periodNs);
    let runtimeNs = this.share.roomNs(t.cpu) + b.rung.runtimeNs;
    if (runtimeNs > top) runtimeNs = top;
    const cap = this.policy.attr(b.saved, { sliced: false, runtimeNs }, p);
    try {
      this.ops.set(t.pid, cap);
    } catch {
      // DEADLINE admission may refuse the cap: leaving DEADLINE below still clears a state whose 0-lag time passed.
    }
    try {
      this.ops.set(t.pid, b.saved);
    } catch (e) {
      // Still DEADLINE: the boost as it was, which ends on its timer.
      try {
        this.ops.set(t.pid, b.applied);
      } catch {
        // the restore at the boost's end writes the saved attributes whatever it finds
      }
      this.log.debug(`pid ${t.pid} (${t.comm}): could not leave DEADLINE to set its boost again: ${errText(e)}`);
      return true;
    }
    try {
      this.ops.set(t.pid, b.applied);
    } catch (e) {
      // On its saved attributes already: the boost has ended.
      this.log.warn({
        message:
          `could not set the boost of pid ${t.pid} (${t.comm}) again: ${errText(e)}; ` +
          `its boost ends here, on ${describeAttr(b.saved)}`,
        ...fields("rearm_failed", t),
      });
      this.events?.restored(t);
      this.drop(b);
      return false;
    }
    b.rearms++;
    // The kernel starts a new period now: one more runtime granted.
    b.ledger = {
      ...startLedger(b.rung.runtimeNs, now.atMs, p.periodNs),
      grantedNs: b.ledger.grantedNs + Number(b.rung.runtimeNs),
    };
    this.events?.rearmed?.(t);
    if (b.rearms === 1)
      this.log.info({
        message:
          `set the boost of pid ${t.pid} (${t.comm}) (cpu ${t.cpu}) again: it has run nothing while queued ` +
          `(${((now.atMs - b.startedMs) / 1000).toFixed(2)} s into its boost), the mark of a DEADLINE throttle ` +
          "left from an earlier boost, which no runtime lifts and leaving DEADLINE clears",
        ...fields("boost_rearmed", t),
      });
    return true;
  }

  /** One rung up, within the CPU's bound, recorded before it is applied; a refusal keeps the boost as it was. */
  private raise(b: ActiveBoost, wanted: Rung, now: Progress, verdict: Verdict): void {
    const t = b.target;
    const p = this.params;
    // A task not boosted yet comes before a raise: room for one more boost, and for each task the bound
    // left waiting on this CPU at the last pass, stays free.
    const reserve = BigInt((this.waiting.get(t.cpu) ?? 0) + 1) * p.runtimeNs;
    const room = this.share.roomNs(t.cpu) + b.rung.runtimeNs - reserve;
    const next = wanted.runtimeNs > room ? { ...wanted, runtimeNs: room } : wanted;
    // A debt the bound leaves unpaid past the boost's end pushes the task's deadline that many periods
    // on, past its restore, and its later boosts run nothing: the boost ends now, while the leaving
    // runtime can still clear that state (restoreTask).
    if (verdict.kind === "in-debt") {
      const runtimeNs = Math.max(Number(next.runtimeNs), Number(b.rung.runtimeNs));
      const periods = Math.ceil(verdict.debtNs / runtimeNs);
      const leftMs = b.startedMs + p.durationMs - now.atMs;
      if (periods > 1 && periods * (Number(p.periodNs) / 1e6) > leftMs) {
        this.events?.bounded?.(t, "raise");
        this.restore(
          t.pid,
          `in debt by ${(verdict.debtNs / 1e6).toFixed(3)} ms, more than the CPU's bound lets its boost repay ` +
            `before its end (${periods} periods at ${runtimeNs} ns)`,
        );
        return;
      }
    }
    if (next.runtimeNs <= b.rung.runtimeNs) {
      this.events?.bounded?.(t, "raise");
      // Said once per CPU until a boost there ends: in a flood, every boost would say it.
      if (!this.raiseBoundedSaid.has(t.cpu))
        this.log.info({
          message:
            `not raising the boost of pid ${t.pid} (${t.comm}) (cpu ${t.cpu}) past ${b.rung.runtimeNs} ns: ` +
            `the boosts on CPU ${t.cpu} hold ${this.share.usedNs(t.cpu)} of the ${this.share.capNs} ns ` +
            "per period they may hold together, and tasks not boosted yet come first",
          ...fields("raise_bounded", t),
        });
      this.raiseBoundedSaid.add(t.cpu);
      return;
    }
    if (!this.sameTask(t)) return;
    // Nothing is written over a change the task (or anyone) made: its boost ends instead, saved attributes back.
    let current: SchedAttr;
    try {
      current = this.ops.get(t.pid);
    } catch {
      return;
    }
    if (ownership(b, current) !== "boost") {
      this.restore(t.pid, `its policy changed to ${describeAttr(current)} during its boost`);
      return;
    }
    const applied = this.policy.attr(b.saved, next, p);
    const to = describeRung(applied, next, p);
    try {
      this.record(t, b.saved, applied);
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
          `could not raise the boost of pid ${t.pid} (${t.comm}) to ${next.runtimeNs} ns: ` +
          `${errText(e)}; it keeps ${b.applied.runtimeNs} ns`,
        ...fields("raise_refused", t),
      });
      return;
    }
    const ranNs = now.cpuNs !== null && b.cpuAtStartNs !== null ? now.cpuNs - b.cpuAtStartNs : null;
    const ran = ranNs !== null ? `, ran ${(ranNs / 1e6).toFixed(3)} ms` : "";
    const fromPolicy = b.applied.policy;
    this.share.charge(t.cpu, next.runtimeNs - b.rung.runtimeNs);
    b.applied = applied;
    b.rung = next;
    this.events?.raised?.(t);
    const because =
      verdict.kind === "in-debt"
        ? `it overran its runtime by ${(verdict.debtNs / 1e6).toFixed(3)} ms, a debt the kernel would make it ` +
          "wait periods for"
        : "it has not run at all under its boost";
    this.log.info({
      message:
        `raised the boost of pid ${t.pid} (${t.comm}) (cpu ${t.cpu}) to ${to}: ${because} ` +
        `(${((now.atMs - b.startedMs) / 1000).toFixed(2)} s into its boost${ran})`,
      ...fields("boost_raised", t, fromPolicy, applied.policy),
      runtime_ns: Number(next.runtimeNs),
    });
  }

  /** The note on a boost that does not start at -r. */
  private strongerWhy(rung: Rung, first: Rung): string {
    if (rung.runtimeNs < first.runtimeNs) return "";
    return " (its last boost gave it nothing: starting stronger)";
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
    if (this.active.get(b.target.pid) !== b || !this.switchSlice(b, "boost", b.saved)) return;
    const nextOnMs = onAtMs + Number(this.params.periodNs) / 1e6;
    if (nextOnMs >= b.startedMs + this.params.durationMs) return;
    b.cycle = this.timers.set(() => {
      b.cycle = null;
      if (this.active.get(b.target.pid) === b && this.switchSlice(b, "own", b.applied)) this.sliceOn(b);
    }, nextOnMs - this.timers.nowMs());
  }

  /**
   * One switch of a sliced rung, from `expect` (what stalld left on the task)
   * to `attr`. A task that is gone, another task under the pid, one on
   * another CPU, or one whose policy changed since stalld's last switch (the
   * task itself, say FIFO 98 lowered to 97, or an admin) ends its boost, with
   * the saved attributes back: nothing is written over a change. False when
   * the boost ended or the switch failed.
   */
  private switchSlice(b: ActiveBoost, expect: Ownership, attr: SchedAttr): boolean {
    const t = b.target;
    const pid = t.pid;
    let now: SchedAttr;
    try {
      if (!this.sameTask(t)) throw new SysError("sched_getattr", ESRCH);
      now = this.ops.get(pid);
    } catch (e) {
      if (e instanceof SysError && e.errno === ESRCH) {
        this.drop(b);
        this.log.debug(`pid ${pid} (${t.comm}) exited during its boost; nothing to restore`);
        return false;
      }
      this.log.warn({
        message: `FIFO boost slice of pid ${pid} (${t.comm}) failed: ${errText(e)}`,
        ...fields("slice_failed", t),
      });
      return false;
    }
    const cpu = this.probe.cpu?.(pid) ?? null;
    if (cpu !== null && cpu !== t.cpu) {
      this.restore(pid, `moved to CPU ${cpu} during its boost`);
      return false;
    }
    if (ownership(b, now) !== expect) {
      this.restore(pid, `its policy changed to ${describeAttr(now)} during its boost`);
      return false;
    }
    try {
      this.ops.set(pid, attr);
      return true;
    } catch (e) {
      // The end-of-boost restore tries again and reports.
      this.log.warn({
        message: `FIFO boost slice of pid ${pid} (${t.comm}) failed: ${errText(e)}`,
        ...fields("slice_failed", t),
      });
      return false;
    }
  }

  private drop(b: ActiveBoost): void {
    if (this.active.get(b.target.pid) !== b) return;
    this.active.delete(b.target.pid);
    this.share.charge(b.target.cpu, -b.rung.runtimeNs);
    this.raiseBoundedSaid.delete(b.target.cpu);
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
      // A boost leaves nothing behind, whatever the task did: changed during
      // its boost (by itself, say DEADLINE to SCHED_OTHER, or by someone
      // else), it gets its saved attributes back all the same, and the line says so.
      if (ownership(b, now) === "changed")
        this.log.warn({
          message:
            `pid ${pid} (${t.comm}) was changed to ${describeAttr(now)} during its boost (by itself or someone ` +
            "else); putting its saved attributes back all the same",
          ...fields("changed_during_boost", t),
        });
      const cpuNow = this.probe.cpuTimeNs(pid);
      if (why === "boost ended") this.rememberStrength(b);
      this.leavingRuntime(b, now, cpuNow);
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
            `pid ${pid} (${t.comm}) got no CPU time from its ${heldS} s SCHED_DEADLINE boost` +
            (b.rearms ? `, set again ${b.rearms} time(s)` : "") +
            ": its DEADLINE deadline likely lies far ahead, pushed there by an earlier boost's overrun repaid " +
            "at a small runtime, which only time clears (HRTICK_DL keeps overruns small)" +
            (this.escalates ? "; its next boost starts stronger" : ""),
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

  /**
   * The runtime a task leaves SCHED_DEADLINE with, set just before the
   * restore; it gives no CPU (sched_setattr changes the runtime, not the
   * balance), it decides what the kernel keeps afterwards:
   *
   * - Queued (state R) and in debt: it keeps that state until its 0-lag
   *   time, debt x period / runtime past its deadline; boosted again before
   *   then, once its replenishment timer fired while it was not DEADLINE, it
   *   is never enqueued (lab dlprobe: 0 us in 2 s at 20 ms/s, even for a debt
   *   of 17 us at 20 us). The rung above ten times the debt brings that within
   *   a tenth of a period (with it, the re-boost got 40-52 ms).
   * - Asleep: it cannot be throttled, and a task that leaves DEADLINE asleep
   *   without an armed inactive timer never gives its bandwidth back to the
   *   kernel's sum (dl_bw->total_bw), which then makes sched_rt_runtime_us
   *   refuse writes (EBUSY). 1024 ns, the least the kernel takes, makes what
   *   may stay negligible.
   *
   * Nothing else is changed: a change of runtime of a task that is asleep by
   * the time it lands cancels its inactive timer, and its new bandwidth stays
   * in the sum (the 6.1-rt lab: 50 ms/s left there per scenario when every
   * queued task was widened to the top).
   */
  private leavingRuntime(b: ActiveBoost, now: SchedAttr, cpuNow: number | null): void {
    const p = this.params;
    if (now.policy !== SCHED_DEADLINE || now.periodNs !== p.periodNs) return;
    let runtimeNs: bigint | null = MIN_DL_RUNTIME_NS;
    if (this.probe.state?.(b.target.pid) === "R") {
      const ledger = replenish(b.ledger, this.timers.nowMs(), now.runtimeNs, p.periodNs);
      const debtNs = cpuNow !== null && b.cpuAtStartNs !== null ? cpuNow - b.cpuAtStartNs - ledger.grantedNs : 0;
      runtimeNs =
        debtNs > 0 ? (rungCoveringDebt(10 * debtNs, now.runtimeNs, p.runtimeNs, p.periodNs)?.runtimeNs ?? null) : null;
      // Within what the CPU's bound has left, however briefly (a flood of restores would add up).
      const roomy = this.share.roomNs(b.target.cpu) + b.rung.runtimeNs;
      if (runtimeNs !== null && runtimeNs > roomy) runtimeNs = roomy > now.runtimeNs ? roomy : null;
    }
    if (runtimeNs === null || now.runtimeNs === runtimeNs) return;
    try {
      this.ops.set(b.target.pid, { ...now, runtimeNs });
    } catch (e) {
      this.log.debug(`pid ${b.target.pid}: could not set its leaving runtime before the restore: ${errText(e)}`);
    }
  }

  /**
   * A task a whole boost gave nothing starts its next boost a rung up (what
   * holds it is likely still there: debt from an earlier boost); any other
   * starts afresh from -r.
   */
  private rememberStrength(b: ActiveBoost): void {
    if (!this.escalates) return;
    const t = b.target;
    const now = this.progress(t.pid);
    const nothing = now.cpuNs !== null && b.cpuAtStartNs !== null && now.cpuNs <= b.cpuAtStartNs;
    if (nothing) {
      // At most the cap of a task given nothing (escalation.ts).
      const next = rungFor({ kind: "ran-nothing" }, b.rung, this.params.runtimeNs, this.params.periodNs) ?? b.rung;
      this.strength.remember(t.pid, t.starttime, next, this.timers.nowMs());
    } else this.strength.forget(t.pid, t.starttime);
  }

  /** Synchronous: called from signal and exit handlers. */
  restoreAll(why: string): void {
    for (const pid of [...this.active.keys()]) this.restore(pid, why);
  }
}
