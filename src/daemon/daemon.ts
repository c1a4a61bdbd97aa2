// The daemon: one pass per wake-up (snapshot, decide from scratch, confirm
// from /proc, boost), a timer for the next pass, and a synchronous stop that
// undoes everything it changed.
import { readFileSync } from "node:fs";
import type { Backend } from "../backends/backend";
import { Booster } from "../boost/booster";
import { RtThrottling } from "../boost/rt_throttling";
import { describeAttr, describeKernelPrio } from "../boost/sched_attr";
import type { RunConfig } from "../cli/options";
import { formatCpuList } from "../kernel/cpus";
import { dlServerPresent } from "../kernel/dl_server";
import { ensureMounted, unmount } from "../kernel/mounts";
import { readCpuTimeNs, readTaskStat } from "../kernel/proc";
import type { Logger } from "../log/logger";
import { detect, type DetectConfig, type Starving } from "./detect";

const NS_PER_MS = 1_000_000;

/** /proc states of a task that can be on a run queue: not a zombie, dead, stopped or traced. */
const RUNNABLE_STATES = new Set(["R", "S", "D", "I"]);

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "?";
  }
}

export class Daemon {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private started = false;
  private mountedDebugfs = false;
  private lastDropped = 0;
  private passErrors = 0;
  readonly booster: Booster;
  private readonly throttling: RtThrottling;
  private readonly detectCfg: DetectConfig;
  /** Pids reported as ghosts while they keep showing up, so each is logged once. */
  private ghosts = new Set<number>();
  passes = 0;

  constructor(private readonly cfg: RunConfig, private readonly backend: Backend, private readonly log: Logger) {
    this.throttling = new RtThrottling(log);
    this.booster = new Booster(
      { runtimeNs: cfg.boostRuntimeNs, periodNs: cfg.boostPeriodNs, durationMs: cfg.boostDurationS * 1000 },
      log,
      { starttime: (pid) => readTaskStat(pid)?.starttime ?? null, cpuTimeNs: readCpuTimeNs },
      undefined,
      undefined,
      () => this.passSoon(),
    );
    this.detectCfg = {
      cpus: new Set(cfg.cpus),
      thresholdNs: cfg.thresholdS * 1e9,
      granularityNs: cfg.granularityS * 1e9,
    };
  }

  /** The backend is already started; stop() stops it. */
  start(): void {
    this.started = true;
    this.noteDlServer();
    if (this.cfg.logOnly) this.log.info("log-only mode: starving tasks are logged, nothing is boosted");
    else {
      this.log.info("using SCHED_DEADLINE for boosting");
      this.throttling.disable();
    }
    const c = this.cfg;
    this.log.info(
      `monitoring CPUs ${formatCpuList(c.cpus)} with backend ${this.backend.name}: threshold ${c.thresholdS} s, ` +
        `boost ${c.boostRuntimeNs}/${c.boostPeriodNs} ns for ${c.boostDurationS} s, granularity ${c.granularityS} s`,
    );
    this.schedule(0);
  }

  private noteDlServer(): void {
    // Log-only changes nothing on the system, mounts included.
    if (!this.cfg.logOnly) {
      try {
        this.mountedDebugfs = ensureMounted("debugfs");
        if (this.mountedDebugfs) this.log.info("mounted debugfs on /sys/kernel/debug to read the DL-server state");
      } catch (e) {
        this.log.debug(`debugfs is not mounted and could not be: ${(e as Error).message}`);
      }
    }
    if (dlServerPresent()) this.log.info("DL-server detected.");
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

  /** One detection pass; returns the delay to the next one. */
  pass(): number {
    this.passes++;
    const snap = this.backend.snapshot();
    const decision = detect(snap, this.detectCfg, (pid) => this.booster.isBoosted(pid));
    for (const s of decision.starving) this.act(s);
    this.noteDropped();
    if (this.ghosts.size) {
      const present = new Set(snap.waiters.map((w) => w.pid));
      this.ghosts = new Set([...this.ghosts].filter((pid) => present.has(pid)));
    }
    return decision.nextPassNs;
  }

  private act({ waiter: w, running }: Starving): void {
    // No ghosts: the task must still exist and be able to run. The backend's
    // record is what says it is queued: a task preempted after it set a
    // sleeping state is queued, yet /proc shows S or D.
    const st = readTaskStat(w.pid);
    if (!st || !RUNNABLE_STATES.has(st.state)) {
      if (!this.ghosts.has(w.pid)) {
        this.ghosts.add(w.pid);
        this.log.debug(`pid ${w.pid} ${st ? `cannot run (state ${st.state})` : "no longer exists"}; forgotten`);
      }
      this.backend.forget(w.pid);
      return;
    }
    const waitedS = w.waitedNs / 1e9;
    this.log.info(
      `${st.comm}-${w.pid} starved on CPU ${w.cpu} for ${Math.floor(waitedS)} seconds ` +
        `(waited ${waitedS.toFixed(3)} s${st.state === "R" ? "" : `, preempted in state ${st.state}`}, ${describeAttr({ policy: st.policy, priority: st.rtPriority, nice: st.nice, runtimeNs: 0n, periodNs: 0n })}, ` +
        `behind ${comm(running.pid)}-${running.pid} ${describeKernelPrio(running.policy, running.prio)})`,
    );
    if (this.cfg.logOnly) return;
    const outcome = this.booster.boost({ pid: w.pid, comm: st.comm, cpu: w.cpu, waitedNs: w.waitedNs, starttime: st.starttime, customSlice: w.customSlice });
    if (outcome === "gone") this.backend.forget(w.pid);
  }

  private noteDropped(): void {
    const { dropped } = this.backend.stats();
    if (dropped > this.lastDropped) {
      this.log.warn(`${dropped - this.lastDropped} task(s) could not be tracked: the ${this.backend.name} map is full (${dropped} in all)`);
      this.lastDropped = dropped;
    }
  }

  /** Synchronous and idempotent: for signal handlers, crashes and exit. */
  stop(why: string): void {
    if (this.stopped || !this.started) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.log.info(`stopping (${why})`);
    this.booster.restoreAll(`stalld stopping: ${why}`);
    try {
      this.backend.stop();
    } catch (e) {
      this.log.error(`detaching the ${this.backend.name} backend failed: ${(e as Error).message}`);
    }
    this.throttling.restore();
    if (this.mountedDebugfs) {
      try {
        unmount("debugfs");
        this.log.info("unmounted debugfs from /sys/kernel/debug");
      } catch (e) {
        this.log.info(`left debugfs mounted on /sys/kernel/debug: ${(e as Error).message}`);
      }
    }
  }
}
