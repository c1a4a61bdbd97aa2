// The one place the daemon acquires what it needs, in a fixed order, each
// undo pushed on the lifecycle's stack as soon as the thing is held:
//
//   pidfile, state directory (a dead stalld's boosts put back), metrics
//   server, debugfs mount, backend, DL-server reader, RT throttling off,
//   HRTICK_DL on, stalld's own scheduling (-R/-A), boosts, passes
//
// What is changed on the machine is written to the state directory before it
// is changed, so a restart after SIGKILL finds and puts it back.
//
// and every exit path unwinds it in reverse. Each resource has one owner: the
// debugfs mount is taken here for whoever needs it (the DL-server and HRTICK
// reads, the sched_debug backend), never by them. Everything that touches the
// machine goes through System (system.ts), so the order is tested with fakes.
import type { Backend, BackendContext, BackendSpec } from "../backends/backend";
import { BACKENDS, backendByName } from "../backends/registry";
import { NoBackend, startFirstAvailable } from "../backends/select";
import { Booster } from "../boost/booster";
import { probeBoostPolicy } from "../boost/policies";
import { RT_RUNTIME_PATH } from "../boost/rt_throttling";
import { applyAggressive, applyGuardReservation, applyReservation } from "../boost/self_sched";
import type { StateDir } from "../boost/state_dir";
import type { TaskProbe } from "../boost/types";
import type { RunConfig } from "../config";
import { EXIT, Exit } from "../errors";
import { type DlServerView, DlServerWatch } from "../kernel/dl_server";
import { HOST_PID_REMEDY, PRIVILEGED_REMEDY } from "../kernel/namespaces";
import { SCHED_DEADLINE, type SchedOps } from "../kernel/sched_attr";
import { type Logger, setLogContext } from "../log/logger";
import { Metrics } from "../metrics/metrics";
import { Daemon, type PassInputs } from "./daemon";
import type { Lifecycle } from "./lifecycle";
import { quietGateFor } from "./quiet_gate";

/** RT throttling as the daemon handles it (boost/rt_throttling.ts). */
export interface Throttling {
  read(): number;
  disable(): void;
  restore(): void;
}

/** Everything start() does to the machine; system.ts has the real one, tests a fake. */
export interface System {
  onlineCpus(): number[];
  createPidfile(path: string): { readonly path: string; remove(): boolean };
  /** Throws Exit when the directory is unsafe or cannot be made. */
  openStateDir(dir: string): StateDir;
  /** Puts back what a dead stalld left boosted; returns how many tasks. */
  restoreOrphans(state: StateDir): number;
  /** Log-only: how many boosts a dead stalld left (nothing is changed); null when there is no state directory. */
  countOrphans(dir: string): number | null;
  /** /metrics, and /healthz: healthy while the last pass is at most healthMaxAgeMs old. */
  serveMetrics(
    listen: NonNullable<RunConfig["metricsListen"]>,
    metrics: Metrics,
    healthMaxAgeMs: number,
  ): { stop(): void };
  writeMetricsFile(path: string, text: string): void;
  lockMemory(): void;
  placeSelf(cfg: RunConfig): void;
  debugfsMounted(): boolean;
  mountDebugfs(): void;
  unmountDebugfs(): void;
  makeBackend(spec: BackendSpec, ctx: BackendContext): Backend;
  openDlServers(cpus: readonly number[], btfPath: string | null): { read(): DlServerView; close(): void };
  dlServerPresent(): boolean;
  /** The kernel's lockdown mode where securityfs shows it (nothing is mounted for it); null otherwise. */
  lockdownMode(): string | null;
  /** A PREEMPT_RT kernel: its soft timers expire in ktimers/N. */
  preemptRt(): boolean;
  /** Where stalld stands (a container?): read-only facts for precheck. */
  where(): { initialPidNamespace: boolean | null; rtRuntimeNotWritable: string | null };
  throttling(state: StateDir | null): Throttling;
  /** HRTICK_DL, written to the state directory before it is turned on. */
  hrtick(state: StateDir | null): { adoptOrphan(): void; prepare(runtimeNs: bigint): bigint; restore(): void };
  sched: SchedOps;
  taskProbe: TaskProbe;
  passInputs(throttling: Throttling): PassInputs;
}

/** Read-only checks that must fail before anything changes (and before detaching). */
export function precheck(cfg: RunConfig, sys: Pick<System, "throttling" | "where">): void {
  const where = sys.where();
  if (where.initialPidNamespace === false)
    throw new Exit(
      EXIT.environment,
      "running in a pid namespace of its own (a container without the host's pids): " +
        `the kernel reports the host's pids, this /proc does not show them; ${HOST_PID_REMEDY}`,
    );
  if (!cfg.logOnly && !cfg.systemd && where.rtRuntimeNotWritable)
    throw new Exit(
      EXIT.environment,
      `${RT_RUNTIME_PATH} cannot be written (${where.rtRuntimeNotWritable}: a read-only /proc/sys?); ` +
        `stalld turns RT throttling off while it runs: ${PRIVILEGED_REMEDY}`,
    );
  if (cfg.systemd && !cfg.logOnly) {
    const v = sys.throttling(null).read();
    if (v !== -1)
      throw new Exit(
        EXIT.environment,
        `RT throttling is on (sched_rt_runtime_us = ${v}) and --systemd leaves it to the unit: ` +
          "turn it off before starting stalld (`stalld throttle off`)",
      );
  }
}

/** Acquires everything in order onto `life` and starts the passes; throws Exit when the system refuses. */
export function startDaemon(cfg: RunConfig, version: string, sys: System, life: Lifecycle, log: Logger): Daemon {
  // The original's lines, one per CPU (scripts read them with -v).
  for (const cpu of cfg.cpus) log.debug(`cpulist: adding cpu ${cpu}`);
  for (const cpu of cfg.affinity ?? []) log.debug(`self-affinity: adding cpu ${cpu}`);
  if (cfg.pidfile) {
    const pidfile = sys.createPidfile(cfg.pidfile);
    life.push("pidfile", () => {
      if (pidfile.remove()) log.info(`removed pidfile ${pidfile.path}`);
    });
  }

  let state: StateDir | null = null;
  if (cfg.logOnly) {
    const left = sys.countOrphans(cfg.stateDir);
    if (left)
      log.warn(`${left} task(s) may still carry the boost of a stalld that died (${cfg.stateDir}): run without -l`);
  } else {
    state = sys.openStateDir(cfg.stateDir);
    const n = sys.restoreOrphans(state);
    if (n) log.info(`restored ${n} task(s) a stalld that died had left in a boost`);
  }

  // A port that cannot be bound ends the start-up before anything on the system changed.
  const metrics = cfg.metricsFile || cfg.metricsListen ? new Metrics(version) : undefined;
  if (metrics && cfg.metricsListen) {
    // Passes come at least every max(granularity, threshold / 2) (quiet_gate.ts): three missed ones is a hang.
    const healthMaxAgeMs = 3 * Math.max(cfg.granularityS, cfg.thresholdS / 2) * 1000 + 10_000;
    const server = sys.serveMetrics(cfg.metricsListen, metrics, healthMaxAgeMs);
    life.push("metrics server", () => server.stop());
  }

  sys.lockMemory();
  sys.placeSelf(cfg);

  // debugfs: one owner. A mount is written to the state directory first, so a
  // restart after SIGKILL unmounts it; one a dead stalld left is taken over.
  const holdDebugfs = () =>
    life.push("debugfs mount", () => {
      try {
        sys.unmountDebugfs();
        log.info("unmounted debugfs from /sys/kernel/debug");
      } catch (e) {
        log.info(`left debugfs mounted on /sys/kernel/debug: ${(e as Error).message}`);
      }
      state?.forgetSetting("debugfs");
    });
  const orphanMount = state?.orphanSetting("debugfs");
  if (orphanMount && sys.debugfsMounted()) {
    state!.recordSetting("debugfs");
    holdDebugfs();
    log.info(`debugfs was mounted by stalld pid ${orphanMount.owner.pid}, which died; unmounted at exit`);
  } else if (orphanMount) state!.forgetSetting("debugfs");
  const ensureDebugfs = (why: string) => {
    if (sys.debugfsMounted()) return;
    try {
      state?.recordSetting("debugfs");
      sys.mountDebugfs();
    } catch (e) {
      state?.forgetSetting("debugfs");
      log.warn(
        `debugfs is not mounted on /sys/kernel/debug and cannot be (${(e as Error).message}): ` +
          "HRTICK_DL, sched/debug and the DL-server's files are out of reach; in a container, " +
          "mount the host's: -v /sys/kernel/debug:/sys/kernel/debug (hostPath in Kubernetes)",
      );
      return;
    }
    log.info(`mounted debugfs on /sys/kernel/debug ${why}`);
    holdDebugfs();
  };
  // Log-only changes nothing it does not need: it mounts only for a backend that reads debugfs.
  if (!cfg.logOnly) ensureDebugfs("to read the DL-server and HRTICK state");

  const backend = startBackend(cfg, sys, log, ensureDebugfs);
  life.push(`backend ${backend.name}`, () => {
    try {
      backend.stop();
    } catch (e) {
      log.error(`detaching the ${backend.name} backend failed: ${(e as Error).message}`);
    }
  });
  // The original's line, which scripts wait for.
  log.info(`using ${backend.name} backend`);
  setLogContext({ backend: backend.name });
  metrics?.setBackend(backend.name);

  const dlSource = sys.openDlServers(cfg.cpus, cfg.btfPath);
  life.push("DL-server reader", () => dlSource.close());
  if (sys.dlServerPresent()) log.info("DL-server detected.");
  const lockdown = sys.lockdownMode();
  if (lockdown) log.info(`lockdown mode is ${lockdown}`);

  const throttling = sys.throttling(state);
  let policy = null;
  let runtimeNs = cfg.boostRuntimeNs;
  if (cfg.logOnly) log.info("log-only mode: starving tasks are only logged, nothing on the system changes");
  else {
    if (cfg.systemd) log.info("RT throttling is left to systemd (--systemd): it is off");
    else {
      throttling.disable();
      life.push("RT throttling", () => throttling.restore());
    }
    policy = probeBoostPolicy(sys.sched, cfg.forceFifo, log);
    const hrtick = sys.hrtick(state);
    hrtick.adoptOrphan();
    if (policy?.probe.policy === SCHED_DEADLINE) runtimeNs = hrtick.prepare(runtimeNs);
    life.push("HRTICK_DL", () => hrtick.restore());
    acquireSelfScheduling(cfg, sys, life, log, policy?.name === "fifo");
  }

  let daemon: Daemon | null = null;
  const booster = policy
    ? new Booster(
        policy,
        { runtimeNs, periodNs: cfg.boostPeriodNs, durationMs: cfg.boostDurationS * 1000 },
        sys.sched,
        sys.taskProbe,
        log,
        { onBoostEnd: () => daemon?.passSoon(), records: state, events: metrics?.boostEvents() },
      )
    : null;
  if (booster) life.push("boosts", (why) => booster.restoreAll(`stalld stopping: ${why}`));

  const quietGate = quietGateFor(cfg, backend.kernelDatedWaits, sys.onlineCpus().length);
  const inputs = sys.passInputs(throttling);
  daemon = new Daemon(
    cfg,
    {
      backend,
      booster,
      quietGate,
      dlServers: new DlServerWatch(() => dlSource.read()),
      inputs,
      metrics,
      afterPass: metrics && cfg.metricsFile ? metricsFileWriter(cfg.metricsFile, metrics, sys, log) : undefined,
    },
    log,
  );
  daemon.start();
  const started = daemon;
  life.push("passes", () => started.stop());
  return daemon;
}

/** The backend asked for, or the first of the registry that starts; debugfs mounted first for one that reads it. */
function startBackend(cfg: RunConfig, sys: System, log: Logger, ensureDebugfs: (why: string) => void): Backend {
  const specs: readonly BackendSpec[] = cfg.backend ? [backendByName(cfg.backend)] : BACKENDS;
  const ctx: BackendContext = { ...cfg, log };
  try {
    return startFirstAvailable(
      specs,
      (spec) => {
        if (spec.needsDebugfs) ensureDebugfs(`to read sched/debug (${spec.name})`);
        return sys.makeBackend(spec, ctx);
      },
      log,
    );
  } catch (e) {
    if (e instanceof NoBackend) {
      const remedies = [...new Set(e.failures.map((f) => specs.find((s) => s.name === f.backend)?.remedy))];
      throw new Exit(
        EXIT.environment,
        `no backend can run: ${e.message}. ${remedies.filter(Boolean).join(" ")}`.trim(),
      );
    }
    throw e;
  }
}

/** -R and -A, undone before RT throttling is put back (the kernel refuses that while stalld is DEADLINE). */
function acquireSelfScheduling(cfg: RunConfig, sys: System, life: Lifecycle, log: Logger, fifoSlices: boolean): void {
  if (cfg.reservationPct !== null) {
    try {
      life.push("-R reservation", applyReservation(sys.sched, cfg.reservationPct, log));
    } catch (e) {
      throw new Exit(
        EXIT.environment,
        `-R/--reservation: cannot give stalld a SCHED_DEADLINE reservation of ${cfg.reservationPct} %: ` +
          (e as Error).message,
      );
    }
  }
  if (cfg.mode === "aggressive") {
    try {
      life.push("-A priority", applyAggressive(sys.sched, log));
    } catch (e) {
      log.warn(`aggressive mode: stalld could not make itself SCHED_FIFO (${(e as Error).message}); it runs as it was`);
    }
  } else if (cfg.reservationPct === null && (sys.preemptRt() || fifoSlices)) {
    const why = sys.preemptRt() ? "preempt_rt" : "fifo_slices";
    const undo = applyGuardReservation(sys.sched, why, log);
    if (undo) life.push(why === "preempt_rt" ? "PREEMPT_RT reservation" : "FIFO slices reservation", undo);
  }
}

/** After each pass; a failing write is said (rate-limited) and the daemon goes on. */
function metricsFileWriter(path: string, metrics: Metrics, sys: System, log: Logger): () => void {
  log.info(`metrics written to ${path} after every pass`);
  return () => {
    try {
      sys.writeMetricsFile(path, metrics.render());
    } catch (e) {
      log.warn(`cannot write the metrics file ${path}: ${(e as Error).message}`);
    }
  };
}
