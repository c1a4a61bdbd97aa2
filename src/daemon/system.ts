// The real machine behind start.ts's System: /proc, sysfs, debugfs, the
// sched_* syscalls, BPF, the state directory, an HTTP listener.
import { existsSync, readdirSync } from "node:fs";
import { HrtickDl } from "../boost/hrtick";
import { RT_RUNTIME_PATH, RtThrottling } from "../boost/rt_throttling";
import { restoreOrphans, StateDir, StateDirError, selfOwner } from "../boost/state_dir";
import type { RunConfig } from "../config";
import { EXIT, Exit } from "../errors";
import { mlockallOnFault, monotonicNs, raiseMemlockLimit, setAffinity } from "../ffi/libc";
import { readIdleTicks } from "../kernel/cpu_idle";
import { formatCpuList, onlineCpus } from "../kernel/cpus";
import { dlServerPresent } from "../kernel/dl_server";
import { openDlServerSource } from "../kernel/dl_server_bpf";
import { LOCKDOWN_PATH, readLockdown } from "../kernel/lockdown";
import { ensureMounted, isMounted, unmount } from "../kernel/mounts";
import { inInitialPidNamespace, notWritable } from "../kernel/namespaces";
import { runningPreemptRt } from "../kernel/preempt_rt";
import { readCpuTimeNs, readTaskStat } from "../kernel/proc";
import { readCpuSomeTotalUs } from "../kernel/psi";
import { kernelSchedOps } from "../kernel/sched_attr";
import type { Logger } from "../log/logger";
import { listenMetrics, type MetricsListener } from "../metrics/listener";
import { type Metrics, writeMetricsFile } from "../metrics/metrics";
import { procPassInputs } from "./daemon";
import { Pidfile, PidfileError } from "./pidfile";
import type { System } from "./start";

/** Best effort: keep the daemon's pages resident so a boost is never late on a page fault. */
function lockMemory(log: Logger): void {
  try {
    raiseMemlockLimit();
  } catch (e) {
    // Kernels >= 5.11 charge BPF maps to the memory cgroup: the limit no longer matters.
    log.debug(`RLIMIT_MEMLOCK left as it is: ${(e as Error).message}`);
  }
  try {
    mlockallOnFault();
  } catch (e) {
    log.debug(`mlockall: ${(e as Error).message}`);
  }
}

function moveSelf(cpus: readonly number[], log: Logger): void {
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      setAffinity(Number(tid), cpus);
    } catch (e) {
      log.debug(`could not move thread ${tid} to CPUs ${formatCpuList(cpus)}: ${(e as Error).message}`);
    }
  }
}

/**
 * -a places stalld where the user says. Otherwise its threads stay off the
 * CPUs it watches: there it would queue behind the very tasks that starve others.
 */
function placeSelf(cfg: RunConfig, log: Logger): void {
  if (cfg.affinity) {
    moveSelf(cfg.affinity, log);
    const overlap = cfg.affinity.filter((c) => cfg.cpus.includes(c));
    log.info(`stalld runs on CPUs ${formatCpuList(cfg.affinity)} (-a)`);
    if (overlap.length)
      log.warn(
        `-a/--affinity includes monitored CPU(s) ${formatCpuList(overlap)}: ` +
          "stalld may queue behind the tasks it watches there",
      );
    return;
  }
  const housekeeping = onlineCpus().filter((c) => !cfg.cpus.includes(c));
  if (!housekeeping.length) {
    log.info(
      "every online CPU is monitored: stalld's own threads may queue behind the tasks it watches " +
        "(leave one CPU out of -c to avoid it)",
    );
    return;
  }
  moveSelf(housekeeping, log);
  log.info(`stalld runs on CPUs ${formatCpuList(housekeeping)}, outside the monitored ones`);
}

/** /metrics over HTTP (listener.ts); a port that cannot be bound is an Exit. */
function serveMetrics(
  listen: NonNullable<RunConfig["metricsListen"]>,
  metrics: Metrics,
  healthMaxAgeMs: number,
  log: Logger,
) {
  let server: MetricsListener;
  try {
    server = listenMetrics(
      listen.hostname,
      listen.port,
      () => metrics.render(),
      undefined,
      () => metrics.health(healthMaxAgeMs),
    );
  } catch (e) {
    const where = `${listen.hostname}:${listen.port}`;
    throw new Exit(EXIT.environment, `--metrics-listen: cannot listen on ${where}: ${(e as Error).message}`);
  }
  const host = listen.hostname.includes(":") ? `[${listen.hostname}]` : listen.hostname;
  log.info(`metrics on http://${host}:${listen.port}/metrics (and /healthz)`);
  if (!listen.loopback) log.warn(`--metrics-listen ${listen.hostname}: metrics are served beyond this machine`);
  return { stop: () => server.stop() };
}

export function realSystem(log: Logger): System {
  return {
    onlineCpus,
    createPidfile(path) {
      try {
        return Pidfile.create(path);
      } catch (e) {
        if (e instanceof PidfileError) throw new Exit(EXIT.environment, e.message);
        throw e;
      }
    },
    openStateDir(dir) {
      try {
        const state = new StateDir(dir, selfOwner());
        const swept = state.sweep();
        if (swept) log.info(`removed ${swept} half-written record(s) from ${dir}`);
        return state;
      } catch (e) {
        if (e instanceof StateDirError) throw new Exit(EXIT.environment, `${e.message} (--state-dir)`);
        throw e;
      }
    },
    restoreOrphans: (state) => restoreOrphans(state, kernelSchedOps, log),
    countOrphans(dir) {
      if (!existsSync(dir)) return null;
      try {
        return new StateDir(dir, selfOwner()).orphanBoosts(log).length;
      } catch (e) {
        log.debug(`state directory not read: ${(e as Error).message}`);
        return null;
      }
    },
    serveMetrics: (listen, metrics, healthMaxAgeMs) => serveMetrics(listen, metrics, healthMaxAgeMs, log),
    writeMetricsFile,
    lockMemory: () => lockMemory(log),
    placeSelf: (cfg) => placeSelf(cfg, log),
    preemptRt: runningPreemptRt,
    debugfsMounted: () => isMounted("debugfs"),
    mountDebugfs: () => void ensureMounted("debugfs"),
    unmountDebugfs: () => unmount("debugfs"),
    makeBackend: (spec, ctx) => spec.make(ctx),
    openDlServers: (cpus, btfPath) => openDlServerSource(cpus, log, btfPath ?? undefined),
    dlServerPresent: () => dlServerPresent(),
    where: () => ({
      initialPidNamespace: inInitialPidNamespace(),
      rtRuntimeNotWritable: notWritable(RT_RUNTIME_PATH),
    }),
    lockdownMode: () => (existsSync(LOCKDOWN_PATH) ? readLockdown(LOCKDOWN_PATH).mode : null),
    throttling: (state) => new RtThrottling(log, undefined, state),
    hrtick: (state) => new HrtickDl(log, undefined, state),
    sched: kernelSchedOps,
    taskProbe: {
      starttime: (pid) => readTaskStat(pid)?.starttime ?? null,
      cpuTimeNs: readCpuTimeNs,
      state: (pid) => readTaskStat(pid)?.state ?? null,
      cpu: (pid) => readTaskStat(pid)?.cpu ?? null,
      stateAndCpu: (pid) => {
        const st = readTaskStat(pid);
        return st ? { state: st.state, cpu: st.cpu } : null;
      },
    },
    passInputs: (throttling) =>
      procPassInputs({
        nowNs: () => Number(monotonicNs()),
        idleTicks: readIdleTicks,
        cpuSomeUs: readCpuSomeTotalUs,
        rtThrottlingOff: () => throttling.read() === -1,
      }),
  };
}
