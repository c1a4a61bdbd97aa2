// The daemon: one pass per wake-up (snapshot, decide from scratch, confirm
// from /proc, boost), a timer for the next pass, and a synchronous stop that
// undoes everything it changed.

import { LogLevels } from "consola";
import type { Backend, Waiter } from "../backends/backend";
import { Booster, type BoostJournal } from "../boost/booster";
import { describeAttr, describeKernelPrio, policyName } from "../boost/sched_attr";
import type { RunConfig } from "../cli/options";
import { monotonicNs } from "../ffi/libc";
import { readIdleTicks } from "../kernel/cpu_idle";
import { formatCpuList, onlineCpus } from "../kernel/cpus";
import { type DlServerView, describeDlServers, readDlServers, systemDlSources } from "../kernel/dl_server";
import { readComm, readCpuTimeNs, readTaskStat, type TaskStat } from "../kernel/proc";
import { readCpuSomeTotalUs } from "../kernel/psi";
import type { Logger } from "../log/logger";
import type { Metrics } from "../metrics/metrics";
import { type DetectConfig, detect, passLines, passStepNs, type Starving } from "./detect";
import { DlServerWatch, dlServerDecision } from "./dl_policy";
import { IgnoreList } from "./ignore";
import { QuietGate, quietSpacingNs } from "./quiet_gate";
import { SystemSetup } from "./setup";

export interface DaemonDeps {
  setup?: SystemSetup;
  idleTicks?: () => Map<number, number>;
  /** PSI cpu "some" total (us), null without PSI. */
  cpuSomeUs?: () => number | null;
  nowNs?: () => number;
  onlineCpus?: number;
  /** Counted as passes go (--metrics-file, --metrics-listen). */
  metrics?: Metrics;
  /** After every pass, skipped or not (the metrics file is written there). */
  afterPass?: () => void;
  /** Boosts are recorded there before they are applied (crash recovery). */
  journal?: BoostJournal;
  /** The DL-server of each CPU; default: debugfs only (run.ts adds BPF). */
  dlServers?: () => DlServerView;
  /** Whether RT throttling is off now (idle detection relies on it). */
  rtThrottlingOff?: () => boolean;
}

const NS_PER_MS = 1_000_000;

/** /proc states of a task that can be on a run queue: not a zombie, dead, stopped or traced. */
const RUNNABLE_STATES = new Set(["R", "S", "D", "I"]);

/** The JSON fields of a task event (--log-format json). */
function taskFields(event: string, w: Waiter, st: TaskStat) {
  return {
    event,
    pid: w.pid,
    tgid: w.tgid,
    comm: st.comm,
    cpu: w.cpu,
    waited_ns: Math.round(w.waitedNs),
    policy_before: policyName(st.policy),
  };
}

export class Daemon {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private started = false;
  private lastDropped = 0;
  private passErrors = 0;
  /** null until start(), and in log-only mode. */
  booster: Booster | null = null;
  private readonly setup: SystemSetup;
  private readonly detectCfg: DetectConfig;
  private readonly quietGate: QuietGate | null;
  private readonly ignore: IgnoreList;
  private readonly idleTicks: () => Map<number, number>;
  private readonly cpuSomeUs: () => number | null;
  private readonly nowNs: () => number;
  private readonly rtThrottlingOff: () => boolean;
  private idlePausedNoted = false;
  /** Pids reported as ghosts while they keep showing up, so each is logged once. */
  private ghosts = new Set<number>();
  private readonly dlWatch: DlServerWatch;
  private readonly journal: BoostJournal | null;
  private readonly metrics: Metrics | null;
  private readonly afterPass: () => void;
  /** pid:starttime of tasks already said to be left to the DL-server. */
  private leftToDl = new Set<string>();
  /** Adaptive mode: pid -> wait start of the episode already reported as "might starve". */
  private warned = new Map<number, number>();
  passes = 0;

  constructor(
    private readonly cfg: RunConfig,
    private readonly backend: Backend,
    private readonly log: Logger,
    deps: DaemonDeps = {},
  ) {
    this.setup = deps.setup ?? new SystemSetup(cfg, log);
    this.idleTicks = deps.idleTicks ?? readIdleTicks;
    this.cpuSomeUs = deps.cpuSomeUs ?? readCpuSomeTotalUs;
    this.nowNs = deps.nowNs ?? (() => Number(monotonicNs()));
    this.rtThrottlingOff = deps.rtThrottlingOff ?? (() => this.setup.throttling.read() === -1);
    const thresholdNs = cfg.thresholdS * 1e9;
    const warnNs = cfg.mode === "adaptive" ? thresholdNs / 2 : undefined;
    const horizonNs = warnNs ?? thresholdNs;
    this.detectCfg = {
      cpus: new Set(cfg.cpus),
      thresholdNs,
      granularityNs: passStepNs(cfg.granularityS * 1e9, horizonNs, backend.kernelDatedWaits),
      warnNs,
    };
    this.quietGate = cfg.idleDetect
      ? new QuietGate(
          cfg.cpus,
          horizonNs,
          quietSpacingNs(this.detectCfg.granularityNs, horizonNs, backend.kernelDatedWaits),
          deps.onlineCpus ?? onlineCpus().length,
        )
      : null;
    this.ignore = new IgnoreList(cfg.ignoreThreads, cfg.ignoreProcesses, log);
    this.journal = deps.journal ?? null;
    this.metrics = deps.metrics ?? null;
    this.afterPass = deps.afterPass ?? (() => {});
    this.dlWatch = new DlServerWatch(deps.dlServers ?? (() => readDlServers(systemDlSources(cfg.cpus))));
  }

  get boosting(): number {
    return this.booster?.count ?? 0;
  }

  get skippedPasses(): number {
    return this.quietGate?.skipped ?? 0;
  }

  /** The backend is already started; stop() stops it. Throws Exit when the system refuses a requested change. */
  start(): void {
    this.started = true;
    const c = this.cfg;
    const plan = this.setup.apply();
    if (plan.method) {
      this.booster = new Booster(
        {
          method: plan.method,
          runtimeNs: plan.runtimeNs,
          periodNs: c.boostPeriodNs,
          durationMs: c.boostDurationS * 1000,
        },
        this.log,
        {
          starttime: (pid) => readTaskStat(pid)?.starttime ?? null,
          cpuTimeNs: readCpuTimeNs,
          state: (pid) => readTaskStat(pid)?.state ?? null,
        },
        { onBoostEnd: () => this.passSoon(), journal: this.journal, events: this.metrics?.boostEvents() },
      );
    }
    if (c.mode === "power") this.log.info("single threaded mode");
    if (c.mode === "adaptive")
      this.log.info(`adaptive mode: tasks waiting ${c.thresholdS / 2} s are reported as might starve`);
    if (!c.idleDetect) this.log.info("idle detection disabled");
    this.noteDlServers();
    const boost = plan.method
      ? `boost ${plan.runtimeNs}/${c.boostPeriodNs} ns for ${c.boostDurationS} s`
      : "no boosting";
    this.log.info(
      `monitoring CPUs ${formatCpuList(c.cpus)} with backend ${this.backend.name}: threshold ${c.thresholdS} s, ` +
        `${boost}, granularity ${c.granularityS} s${this.stepNote()}`,
    );
    this.schedule(0);
  }

  /** Said when a backend without kernel-dated waits reads more often than -g (see passStepNs). */
  private stepNote(): string {
    const stepNs = this.detectCfg.granularityNs;
    return stepNs < this.cfg.granularityS * 1e9
      ? ` (read every ${+(stepNs / 1e9).toFixed(3)} s: ${this.backend.name} dates a wait by the read that first sees it)`
      : "";
  }

  private schedule(delayNs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.runPass(), Math.ceil(delayNs / NS_PER_MS));
  }

  /** A pass now rather than at the scheduled time (a boost just ended). */
  private passSoon(): void {
    if (this.stopped || !this.started) return;
    if (this.timer) clearTimeout(this.timer);
    this.schedule(0);
  }

  private runPass(): void {
    this.timer = null;
    let next = this.detectCfg.granularityNs;
    try {
      next = this.pass();
      this.passErrors = 0;
    } catch (e) {
      // A broken pass must not kill the daemon; say it once per streak.
      if (this.passErrors++ === 0) this.log.error(`detection pass failed: ${(e as Error).message}`);
    }
    this.schedule(next);
  }

  /** One detection pass, counted; returns the delay to the next one. */
  pass(): number {
    const t0 = performance.now();
    try {
      return this.passInner();
    } finally {
      const m = this.metrics;
      if (m) {
        const s = (performance.now() - t0) / 1000;
        m.passes.add(1);
        m.passSeconds.add(s);
        m.lastPassSeconds.set(s);
        m.boosting.set(this.boosting);
        m.dropped.set(this.backend.stats().dropped);
      }
      this.afterPass();
    }
  }

  private passInner(): number {
    this.passes++;
    if (this.quietGate) {
      const skip = this.quietGate.check(this.nowNs(), {
        idle: this.idleTrustworthy() ? this.idleTicks() : null,
        someUs: this.cpuSomeUs(),
      });
      if (skip) {
        const why =
          skip.sign === "idle" ? "every monitored CPU idled" : "no task waited for a CPU through the interval (PSI)";
        // The original's phrase first (scripts wait for "skipping"), then why.
        if (skip.sign === "idle") this.log.debug("all CPUs had idle time, skipping parse");
        this.log.debug(
          `${why} since the last pass: snapshot skipped, next pass in ${(skip.skipNs / 1e9).toFixed(3)} s`,
        );
        this.metrics?.skipped.add(1, { sign: skip.sign });
        return skip.skipNs;
      }
    }
    const snap = this.backend.snapshot();
    if (this.metrics) this.noteWaits(snap.waiters);
    if (this.log.level >= LogLevels.debug) for (const line of passLines(snap, this.cfg.cpus)) this.log.debug(line);
    const decision = detect(snap, this.detectCfg, (pid) => this.booster?.isBoosted(pid) ?? false);
    for (const s of decision.starving) this.act(s);
    this.warnEarly(decision.early, Number(snap.nowNs));
    this.noteDropped();
    if (this.ghosts.size) {
      const present = new Set(snap.waiters.map((w) => w.pid));
      this.ghosts = new Set([...this.ghosts].filter((pid) => present.has(pid)));
    }
    return decision.nextPassNs;
  }

  private noteWaits(waiters: readonly Waiter[]): void {
    const longest = new Map<number, number>(this.cfg.cpus.map((c) => [c, 0]));
    for (const w of waiters) if (longest.has(w.cpu)) longest.set(w.cpu, Math.max(longest.get(w.cpu)!, w.waitedNs));
    for (const [cpu, ns] of longest) this.metrics!.longestWait.set(ns / 1e9, { cpu: String(cpu) });
  }

  /**
   * With RT throttling on, a CPU idles while RT tasks wait (their share is
   * used up), so idle time no longer proves an empty run queue.
   */
  private idleTrustworthy(): boolean {
    if (this.rtThrottlingOff()) return true;
    if (!this.idlePausedNoted) {
      this.idlePausedNoted = true;
      this.log.info("idle detection paused while RT throttling is on: a throttled CPU idles while RT tasks wait on it");
    }
    return false;
  }

  /** The task behind a record, if it still exists and can run; a ghost is forgotten (logged once). */
  private confirm(w: Starving["waiter"]): TaskStat | null {
    // The backend's record is what says it is queued: a task preempted after
    // it set a sleeping state is queued, yet /proc shows S or D.
    const st = readTaskStat(w.pid);
    if (st && RUNNABLE_STATES.has(st.state)) return st;
    if (!this.ghosts.has(w.pid)) {
      this.ghosts.add(w.pid);
      this.log.debug(`pid ${w.pid} ${st ? `cannot run (state ${st.state})` : "no longer exists"}; forgotten`);
    }
    this.backend.forget(w.pid);
    return null;
  }

  /** Adaptive mode: the original's early sign, once per waiting episode. */
  private warnEarly(early: Starving[], now: number): void {
    if (!this.detectCfg.warnNs) return;
    const seen = new Map<number, number>();
    for (const { waiter: w } of early) {
      const since = now - w.waitedNs;
      const prev = this.warned.get(w.pid);
      // The same episode, give or take the clock read skew between passes.
      if (prev !== undefined && Math.abs(prev - since) < 1e8) {
        seen.set(w.pid, prev);
        continue;
      }
      const st = this.confirm(w);
      if (!st || this.ignore.ignored(st, w.tgid)) continue;
      seen.set(w.pid, since);
      this.log.info({
        message: `${st.comm}-${w.pid} might starve on CPU ${w.cpu} (waiting for ${Math.floor(w.waitedNs / 1e9)} seconds)`,
        ...taskFields("might_starve", w, st),
      });
    }
    this.warned = seen;
  }

  /** The start-up line: what the DL-server covers on the monitored CPUs, and so what stalld leaves to it. */
  private noteDlServers(): void {
    const view = this.dlWatch.get(this.nowNs());
    const what = describeDlServers(view, this.cfg.cpus);
    if (
      view.kind === "known" &&
      !this.cfg.boostAll &&
      this.cfg.cpus.some((cpu) => dlServerDecision(0, cpu, view, false).boost === false)
    ) {
      this.log.info(
        `DL-server (${view.source}): ${what}; starving fair tasks there are left to it (--boost-all boosts them too)`,
      );
    } else if (view.kind === "known")
      this.log.info(`DL-server (${view.source}): ${what}; every starving task is boosted`);
    else this.log.info(`DL-server: ${what}; every starving task is boosted`);
  }

  private act({ waiter: w, running }: Starving): void {
    const st = this.confirm(w);
    if (!st || this.ignore.ignored(st, w.tgid)) return;
    const waitedS = w.waitedNs / 1e9;
    this.metrics?.starving.add(1);
    const dl = dlServerDecision(st.policy, w.cpu, this.dlWatch.get(this.nowNs()), this.cfg.boostAll);
    if (!dl.boost) {
      const key = `${w.pid}:${st.starttime}`;
      if (!this.leftToDl.has(key)) {
        if (this.leftToDl.size >= 4096) this.leftToDl.clear();
        this.leftToDl.add(key);
        this.metrics?.leftToDl.add(1);
        this.log.info({
          message: `${st.comm}-${w.pid} starved on CPU ${w.cpu} for ${Math.floor(waitedS)} seconds: left to the DL-server (${dl.why}; --boost-all boosts it)`,
          ...taskFields("left_to_dl_server", w, st),
        });
      }
      return;
    }
    this.log.info({
      message:
        `${st.comm}-${w.pid} starved on CPU ${w.cpu} for ${Math.floor(waitedS)} seconds ` +
        `(waited ${waitedS.toFixed(3)} s${st.state === "R" ? "" : `, preempted in state ${st.state}`}, ${describeAttr({ policy: st.policy, priority: st.rtPriority, nice: st.nice, runtimeNs: 0n, periodNs: 0n })}, ` +
        `behind ${readComm(running.pid) ?? "?"}-${running.pid} ${describeKernelPrio(running.policy, running.prio)})`,
      ...taskFields("starved", w, st),
    });
    if (!this.booster) return;
    if (this.cfg.systemd && this.setup.throttling.read() !== -1) {
      this.log.warn(
        `not boosting pid ${w.pid} (${st.comm}): RT throttling was turned back on and --systemd leaves it to the unit`,
      );
      return;
    }
    const outcome = this.booster.boost({
      pid: w.pid,
      tgid: w.tgid,
      comm: st.comm,
      cpu: w.cpu,
      waitedNs: w.waitedNs,
      starttime: st.starttime,
      customSlice: w.customSlice,
    });
    if (outcome === "gone") this.backend.forget(w.pid);
  }

  private noteDropped(): void {
    const { dropped } = this.backend.stats();
    if (dropped > this.lastDropped) {
      this.log.warn(
        `${dropped - this.lastDropped} task(s) could not be tracked: the ${this.backend.name} map is full (${dropped} in all)`,
      );
      this.lastDropped = dropped;
    }
  }

  /** Synchronous and idempotent: for signal handlers, crashes and exit. */
  stop(why: string): void {
    if (this.stopped || !this.started) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.log.info(`stopping (${why})`);
    this.booster?.restoreAll(`stalld stopping: ${why}`);
    // Start-up in reverse: the backend started before the setup was applied,
    // and may own the debugfs mount the HRTICK_DL restore writes through.
    this.setup.undo();
    try {
      this.backend.stop();
    } catch (e) {
      this.log.error(`detaching the ${this.backend.name} backend failed: ${(e as Error).message}`);
    }
  }
}
