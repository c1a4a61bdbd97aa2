// The daemon's passes: snapshot (the backend), decide (detect.ts, decide.ts,
// both pure), confirm (the /proc facts each decision is made on), act (log,
// boost; the booster restores on its own timers). Everything it works with is
// built and owned by start.ts; it keeps only what its log lines need to say
// each thing once.
import type { Backend } from "../backends/backend";
import type { Booster } from "../boost/booster";
import type { Mode, NamePattern } from "../config";
import { formatCpuList } from "../kernel/cpus";
import { type DlServerWatch, describeDlServers } from "../kernel/dl_server";
import { PF_KTHREAD, readComm, readTaskStat } from "../kernel/proc";
import { describeAttr, describeKernelPrio, policyName } from "../kernel/sched_attr";
import type { Logger } from "../log/logger";
import type { Metrics } from "../metrics/metrics";
import { decide, dlServerDecision, type TaskDecision, type TaskFacts } from "./decide";
import { type DetectConfig, detect, passLines, passTiming, sameEpisode } from "./detect";
import { OnceSet } from "./once";
import type { QuietGate } from "./quiet_gate";

/**
 * Boosts one pass makes at most; the rest wait for the next pass. Each boost
 * is a few syscalls, a state record and two log lines: in the lab's emulated
 * guest 200 of them made passes 3.5-4.1 s apart, and restores late.
 */
export const MAX_BOOSTS_PER_PASS = 32;

/** -v says a pass that began this late, or took this long (ms). */
const SLOW_PASS_MS = 250;

/** What the passes are asked to do (from RunConfig). */
export interface PassConfig {
  cpus: number[];
  thresholdS: number;
  granularityS: number;
  mode: Mode;
  idleDetect: boolean;
  ignoreThreads: NamePattern[];
  ignoreProcesses: NamePattern[];
  boostAll: boolean;
  systemd: boolean;
}

/** What a pass reads besides the backend; /proc and the clock in production, fakes in tests. */
export interface PassInputs {
  nowNs(): number;
  /** Idle ticks per CPU and PSI cpu "some" total (us, null without PSI), for the quiet gate. */
  idleTicks(): Map<number, number>;
  cpuSomeUs(): number | null;
  /** Whether RT throttling is off now (idle time proves nothing while it is on). */
  rtThrottlingOff(): boolean;
  /** A task's /proc facts; null when it is gone. */
  facts(pid: number, tgid: number, needProcessName: boolean): TaskFacts | null;
}

export const procPassInputs = (inputs: Pick<PassInputs, "nowNs" | "idleTicks" | "cpuSomeUs" | "rtThrottlingOff">) => ({
  ...inputs,
  facts: (pid: number, tgid: number, needProcessName: boolean): TaskFacts | null => {
    const stat = readTaskStat(pid);
    return stat ? { stat, processName: needProcessName ? readComm(tgid) : null } : null;
  },
});

export interface DaemonParts {
  backend: Backend;
  /** null: log-only. */
  booster: Booster | null;
  /** null: -N or aggressive mode. */
  quietGate: QuietGate | null;
  dlServers: DlServerWatch;
  inputs: PassInputs;
  metrics?: Metrics;
  /** After every pass, skipped or not (the metrics file is written there). */
  afterPass?: () => void;
}

const NS_PER_MS = 1_000_000;

/** The JSON fields of a task event (--log-format json). */
function taskFields(event: string, d: { waiter: TaskDecision["waiter"]; stat: { comm: string; policy: number } }) {
  const w = d.waiter;
  return {
    event,
    pid: w.pid,
    tgid: w.tgid,
    comm: d.stat.comm,
    cpu: w.cpu,
    waited_ns: Math.round(w.waitedNs),
    policy_before: policyName(d.stat.policy),
  };
}

export class Daemon {
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** When the scheduled pass is due (performance.now() ms). */
  private dueAtMs = 0;
  /** Looks put off, as of the last pass that said so. */
  private shedSaid = 0;
  private running = false;
  private lastDropped = 0;
  private passErrors = 0;
  private idlePausedNoted = false;
  private readonly detectCfg: DetectConfig;
  /** Said once per task: ghosts (while they keep showing up), ignored tasks, tasks left to the DL-server. */
  private readonly ghosts = new OnceSet();
  private readonly ignoredSaid = new OnceSet();
  private readonly leftToDlSaid = new OnceSet();
  /** Adaptive mode: pid -> wait start of the episode already reported as "might starve". */
  private warned = new Map<number, number>();
  /** This pass: tasks per CPU the per-CPU bound left waiting. */
  private bounded = new Map<number, number>();
  /** Per CPU, starving tasks this pass left for the next one (MAX_BOOSTS_PER_PASS). */
  private deferred = new Map<number, number>();
  private boostsThisPass = 0;
  passes = 0;

  constructor(
    private readonly cfg: PassConfig,
    private readonly parts: DaemonParts,
    private readonly log: Logger,
  ) {
    const t = passTiming(cfg.thresholdS, cfg.granularityS, cfg.mode === "adaptive", parts.backend.kernelDatedWaits);
    this.detectCfg = { cpus: new Set(cfg.cpus), thresholdNs: t.thresholdNs, granularityNs: t.stepNs, warnNs: t.warnNs };
  }

  /** The step between passes: the granularity, or shorter for a backend that dates waits itself (passStepNs). */
  get stepNs(): number {
    return this.detectCfg.granularityNs;
  }

  get boosting(): number {
    return this.parts.booster?.count ?? 0;
  }

  get skippedPasses(): number {
    return this.parts.quietGate?.skipped ?? 0;
  }

  /** Says how it runs, then the first pass now. */
  start(): void {
    const c = this.cfg;
    const { backend, booster } = this.parts;
    if (c.mode === "power") this.log.info("single threaded mode");
    if (c.mode === "adaptive")
      this.log.info(`adaptive mode: tasks waiting ${c.thresholdS / 2} s are reported as might starve`);
    if (!c.idleDetect) this.log.info("idle detection disabled");
    this.noteDlServers();
    const step = this.stepNs < c.granularityS * 1e9;
    this.log.info(
      `monitoring CPUs ${formatCpuList(c.cpus)} with backend ${backend.name}: threshold ${c.thresholdS} s, ` +
        `${booster ? booster.describe() : "no boosting"}, granularity ${c.granularityS} s` +
        (step
          ? ` (read every ${+(this.stepNs / 1e9).toFixed(3)} s: ` +
            `${backend.name} dates a wait by the read that first sees it)`
          : ""),
    );
    this.running = true;
    this.schedule(0);
  }

  /** Synchronous and idempotent: no pass after this. */
  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(delayNs: number): void {
    if (!this.running) return;
    const ms = Math.ceil(delayNs / NS_PER_MS);
    this.dueAtMs = performance.now() + ms;
    this.timer = setTimeout(() => this.runPass(), ms);
  }

  /** A pass now rather than at the scheduled time (a boost just ended). */
  passSoon(): void {
    if (!this.running) return;
    if (this.timer) clearTimeout(this.timer);
    this.schedule(0);
  }

  private runPass(): void {
    this.timer = null;
    const lateMs = performance.now() - this.dueAtMs;
    let next = this.detectCfg.granularityNs;
    const t0 = performance.now();
    try {
      next = this.pass();
      this.passErrors = 0;
      this.sayIfSlow(lateMs, performance.now() - t0);
    } catch (e) {
      // A broken pass must not kill the daemon; say it once per streak.
      if (this.passErrors++ === 0) this.log.error(`detection pass failed: ${(e as Error).message}`);
    }
    this.schedule(next);
  }

  /**
   * -v: a pass that began late or took long, and the looks at boosted tasks
   * put off since the last pass: where stalld's own time went when its
   * passes and restores fall behind (a slow or starved housekeeping CPU).
   */
  private sayIfSlow(lateMs: number, tookMs: number): void {
    const shed = this.parts.booster?.looks.shed ?? 0;
    if (lateMs > SLOW_PASS_MS || tookMs > SLOW_PASS_MS || shed > this.shedSaid)
      this.log.debug(
        `pass ${this.passes} began ${Math.max(0, lateMs).toFixed(0)} ms late and took ${tookMs.toFixed(0)} ms; ` +
          `${shed - this.shedSaid} look(s) at boosted tasks put off since the last pass`,
      );
    this.shedSaid = shed;
  }

  /** One detection pass, counted; returns the delay to the next one. */
  pass(): number {
    const t0 = performance.now();
    try {
      return this.passInner();
    } finally {
      const m = this.parts.metrics;
      if (m) {
        const s = (performance.now() - t0) / 1000;
        m.passes.add(1);
        m.passSeconds.add(s);
        m.lastPassSeconds.set(s);
        m.passed();
        m.boosting.set(this.boosting);
        m.dropped.set(this.parts.backend.stats().dropped);
      }
      this.parts.afterPass?.();
    }
  }

  private passInner(): number {
    this.passes++;
    const { backend, booster, inputs } = this.parts;
    const skipNs = this.quietSkip();
    if (skipNs !== null) return skipNs;
    const notNow = new Set(this.parts.quietGate?.idledNow ?? []);
    for (const cpu of notNow) this.log.debug(`cpu ${cpu} had idle time! skipping next phase`);
    if (notNow.size) this.log.debug("some cpus ran, so run-queues should be parsed");
    const snap = backend.snapshot();
    this.parts.metrics?.setLongestWaits(this.cfg.cpus, snap.waiters);
    for (const line of passLines(snap, this.cfg.cpus, notNow)) this.log.debug(line);
    const found = detect(snap, this.detectCfg, (pid) => booster?.isBoosted(pid) ?? false, notNow);
    const all = [...found.starving, ...found.early];
    const facts = new Map<number, TaskFacts | null>();
    for (const { waiter: w } of all) facts.set(w.pid, inputs.facts(w.pid, w.tgid, this.cfg.ignoreProcesses.length > 0));
    const decisions = decide({
      found,
      facts,
      ignoreThreads: this.cfg.ignoreThreads,
      ignoreProcesses: this.cfg.ignoreProcesses,
      dl: this.parts.dlServers.get(inputs.nowNs()),
      boostAll: this.cfg.boostAll,
      boosting: booster !== null,
      throttlingBackOn: this.cfg.systemd && found.starving.length > 0 && !inputs.rtThrottlingOff(),
    });
    const warned = new Map<number, number>();
    this.bounded = new Map();
    this.deferred = new Map();
    this.boostsThisPass = 0;
    for (const d of decisions) this.carryOut(d, Number(snap.nowNs), warned);
    this.warned = warned;
    this.sayBounded();
    this.noteDropped();
    this.ghosts.keepOnly(snap.waiters.map((w) => String(w.pid)));
    return found.nextPassNs;
  }

  /** The delay to the next pass when nothing can have waited since the last one; null: take a snapshot. */
  private quietSkip(): number | null {
    const gate = this.parts.quietGate;
    if (!gate) return null;
    const { inputs } = this.parts;
    const skip = gate.check(inputs.nowNs(), {
      idle: this.idleTrustworthy() ? inputs.idleTicks() : null,
      someUs: inputs.cpuSomeUs(),
    });
    if (!skip) return null;
    // The original's phrase first (scripts wait for "skipping"), then why.
    if (skip.sign === "idle") this.log.debug("all CPUs had idle time, skipping parse");
    else this.log.debug("no task waited on a monitored CPU through the interval (PSI), skipping parse");
    const why =
      skip.sign === "idle" ? "every monitored CPU idled" : "no task waited for a CPU through the interval (PSI)";
    this.log.debug(`${why} since the last pass: snapshot skipped, next pass in ${(skip.skipNs / 1e9).toFixed(3)} s`);
    this.parts.metrics?.skipped.add(1, { sign: skip.sign });
    return skip.skipNs;
  }

  /**
   * With RT throttling on, a CPU idles while RT tasks wait (their share is
   * used up), so idle time no longer proves an empty run queue.
   */
  private idleTrustworthy(): boolean {
    if (this.parts.inputs.rtThrottlingOff()) return true;
    if (!this.idlePausedNoted) {
      this.idlePausedNoted = true;
      this.log.info("idle detection paused while RT throttling is on: a throttled CPU idles while RT tasks wait on it");
    }
    return false;
  }

  private carryOut(d: TaskDecision, nowNs: number, warned: Map<number, number>): void {
    const w = d.waiter;
    switch (d.kind) {
      case "gone":
        if (this.ghosts.first(String(w.pid)))
          this.log.debug(
            `pid ${w.pid} ${d.stat ? `cannot run (state ${d.stat.state})` : "no longer exists"}; forgotten`,
          );
        this.parts.backend.forget(w.pid);
        return;
      case "ignored":
        // pid and starttime: a reused pid is another task.
        if (this.ignoredSaid.first(`${w.pid}:${d.stat.starttime}`))
          this.log.info({ message: `${d.line} (pid ${w.pid})`, ...taskFields("ignored", d) });
        return;
      case "warn-early":
        this.warnEarly(d, nowNs, warned);
        return;
      case "left-to-dl-server":
        this.parts.metrics?.starving.add(1);
        if (!this.leftToDlSaid.first(`${w.pid}:${d.stat.starttime}`)) return;
        this.parts.metrics?.leftToDl.add(1);
        this.log.info({
          message:
            `${d.stat.comm}-${w.pid} starved on CPU ${w.cpu} for ${Math.floor(w.waitedNs / 1e9)} seconds: ` +
            `left to the DL-server (${d.why}; --boost-all boosts it)`,
          ...taskFields("left_to_dl_server", d),
        });
        return;
      case "report":
      case "hold":
      case "boost":
        this.parts.metrics?.starving.add(1);
        this.sayStarved(d);
        if (d.kind === "hold")
          this.log.warn({
            message:
              `not boosting pid ${w.pid} (${d.stat.comm}): ` +
              "RT throttling was turned back on and --systemd leaves it to the unit",
            ...taskFields("held", d),
          });
        if (d.kind === "boost") this.boost(d);
    }
  }

  private sayStarved(d: Extract<TaskDecision, { kind: "boost" | "report" | "hold" }>): void {
    const { waiter: w, stat: st, running } = d;
    const waitedS = w.waitedNs / 1e9;
    const own = describeAttr({
      policy: st.policy,
      priority: st.rtPriority,
      nice: st.nice,
      runtimeNs: 0n,
      periodNs: 0n,
    });
    this.log.info({
      message:
        `${st.comm}-${w.pid} starved on CPU ${w.cpu} for ${Math.floor(waitedS)} seconds ` +
        `(waited ${waitedS.toFixed(3)} s${st.state === "R" ? "" : `, preempted in state ${st.state}`}, ${own}, ` +
        `behind ${readComm(running.pid) ?? "?"}-${running.pid} ${describeKernelPrio(running.policy, running.prio)})`,
      ...taskFields("starved", d),
    });
  }

  private boost(d: Extract<TaskDecision, { kind: "boost" }>): void {
    const { waiter: w, stat: st } = d;
    // A pass stays short whatever the flood (in decide.ts's order: kernel threads, then the longest wait).
    if (this.boostsThisPass >= MAX_BOOSTS_PER_PASS) {
      this.deferred.set(w.cpu, (this.deferred.get(w.cpu) ?? 0) + 1);
      return;
    }
    const outcome = this.parts.booster!.boost({
      pid: w.pid,
      tgid: w.tgid,
      comm: st.comm,
      cpu: w.cpu,
      waitedNs: w.waitedNs,
      starttime: st.starttime,
      customSlice: w.customSlice,
      kthread: (st.flags & PF_KTHREAD) !== 0,
    });
    // Only boosts made count: a refusal before any syscall (bounded, resting) costs next to nothing.
    if (outcome === "boosted") this.boostsThisPass++;
    if (outcome === "gone") this.parts.backend.forget(w.pid);
    if (outcome === "bounded") this.bounded.set(w.cpu, (this.bounded.get(w.cpu) ?? 0) + 1);
  }

  /** One line per CPU whose bound left starving tasks waiting this pass. */
  private sayBounded(): void {
    const booster = this.parts.booster;
    if (!booster) return;
    const waiting = new Map(this.bounded);
    for (const [cpu, n] of this.deferred) waiting.set(cpu, (waiting.get(cpu) ?? 0) + n);
    booster.noteWaiting(waiting);
    const deferred = [...this.deferred.values()].reduce((a, b) => a + b, 0);
    if (deferred)
      this.log.info({
        message:
          `${deferred} starving task(s) wait for a later pass: a pass makes at most ${MAX_BOOSTS_PER_PASS} boosts ` +
          "(kernel threads and the longest-starving go first)",
        event: "boosts_deferred",
        waiting: deferred,
      });
    const { share } = booster;
    for (const [cpu, n] of this.bounded)
      this.log.info({
        message:
          `${n} starving task(s) on CPU ${cpu} wait for a later pass: the boosts there hold ` +
          `${share.usedNs(cpu)} of the ${share.capNs} ns per period they may hold together ` +
          "(kernel threads and the longest-starving go first)",
        event: "boosts_bounded",
        cpu,
        waiting: n,
      });
  }

  /** Adaptive mode: the original's early sign, once per waiting episode. */
  private warnEarly(
    d: Extract<TaskDecision, { kind: "warn-early" }>,
    nowNs: number,
    warned: Map<number, number>,
  ): void {
    const w = d.waiter;
    const since = nowNs - w.waitedNs;
    const prev = this.warned.get(w.pid);
    if (prev !== undefined && sameEpisode(prev, since)) {
      warned.set(w.pid, prev);
      return;
    }
    warned.set(w.pid, since);
    this.log.info({
      message:
        `${d.stat.comm}-${w.pid} might starve on CPU ${w.cpu} ` +
        `(waiting for ${Math.floor(w.waitedNs / 1e9)} seconds)`,
      ...taskFields("might_starve", d),
    });
  }

  /** The start-up line: what the DL-server covers on the monitored CPUs, and so what stalld leaves to it. */
  private noteDlServers(): void {
    const view = this.parts.dlServers.get(this.parts.inputs.nowNs());
    const what = describeDlServers(view, this.cfg.cpus);
    const leaves =
      view.kind === "known" &&
      !this.cfg.boostAll &&
      this.cfg.cpus.some((cpu) => dlServerDecision(0, cpu, view, false).boost === false);
    if (leaves)
      this.log.info(
        `DL-server (${view.source}): ${what}; starving fair tasks there are left to it (--boost-all boosts them too)`,
      );
    else if (view.kind === "known")
      this.log.info(`DL-server (${view.source}): ${what}; every starving task is stalld's`);
    else this.log.info(`DL-server: ${what}; every starving task is stalld's`);
  }

  private noteDropped(): void {
    const { dropped } = this.parts.backend.stats();
    if (dropped > this.lastDropped) {
      const name = this.parts.backend.name;
      this.log.warn(
        `${dropped - this.lastDropped} task(s) could not be tracked: the ${name} map is full (${dropped} in all)`,
      );
      this.lastDropped = dropped;
    }
  }
}
