// `stalld run`: validate everything first, then change the system, then
// monitor until a signal; every exit path puts back what was changed.
import { defineCommand } from "citty";
import type { Backend } from "../backends/backend";
import { NoBackend, startFirstAvailable } from "../backends/select";
import { stalldBpfObject, taskScanBpfObject } from "../backends/bpf_object";
import { QueueTrackBackend } from "../backends/queue_track";
import { TaskScanBackend } from "../backends/task_scan";
import { Daemon } from "../daemon/daemon";
import { readdirSync } from "node:fs";
import { mlockallOnFault, raiseMemlockLimit, setAffinity } from "../ffi/libc";
import { formatCpuList, onlineCpus, possibleCpus } from "../kernel/cpus";
import { pidMax } from "../kernel/proc";
import { log, setVerbosity } from "../log/logger";
import { runArgs } from "./args";
import { EXIT, Exit } from "./exit";
import { type BackendName, parseRunConfig, rejectUnknown, type RunConfig } from "./options";

/** Without -b, the first of these that starts (order from BENCHMARKS.md). */
export const DEFAULT_BACKENDS: readonly BackendName[] = ["task_scan", "queue_track"];

function makeBackend(name: BackendName, cfg: RunConfig): Backend {
  switch (name) {
    case "task_scan":
      return new TaskScanBackend({
        object: taskScanBpfObject(),
        cpus: cfg.cpus,
        reportNs: (cfg.thresholdS - Math.min(cfg.granularityS, cfg.thresholdS)) * 1e9,
        log,
      });
    case "queue_track":
      return new QueueTrackBackend({ object: stalldBpfObject(), possibleCpus: possibleCpus().length, pidMax: pidMax(), log });
  }
}

/** The chosen backend, started; without -b, the first of DEFAULT_BACKENDS that starts. */
function startBackend(cfg: RunConfig): Backend {
  try {
    return startFirstAvailable(cfg.backend ? [cfg.backend] : DEFAULT_BACKENDS, (name) => makeBackend(name, cfg), log);
  } catch (e) {
    if (e instanceof NoBackend) throw new Exit(EXIT.environment, e.message);
    throw e;
  }
}

/** Best effort: keep the daemon's pages resident so a boost is never late on a page fault. */
function lockMemory(): void {
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

/**
 * Keeps the daemon's own threads off the CPUs it watches: there it would queue
 * behind the very tasks that starve others. With every CPU monitored it says so.
 */
function keepOffMonitoredCpus(cfg: RunConfig, online: readonly number[]): void {
  const housekeeping = online.filter((c) => !cfg.cpus.includes(c));
  if (!housekeeping.length) {
    log.info("every online CPU is monitored: stalld's own threads may queue behind the tasks it watches (leave one CPU out of -c to avoid it)");
    return;
  }
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      setAffinity(Number(tid), housekeeping);
    } catch (e) {
      log.debug(`could not move thread ${tid} to CPUs ${formatCpuList(housekeeping)}: ${(e as Error).message}`);
    }
  }
  log.info(`stalld runs on CPUs ${formatCpuList(housekeeping)}, outside the monitored ones`);
}

export async function runDaemon(args: Record<string, unknown>): Promise<never> {
  rejectUnknown(args, runArgs);
  const online = onlineCpus();
  const cfg = parseRunConfig(args, online, possibleCpus().length);
  setVerbosity(cfg.verbose ? 1 : 0);
  if (process.geteuid?.() !== 0) throw new Exit(EXIT.environment, "stalld must run as root");

  lockMemory();
  keepOffMonitoredCpus(cfg, online);
  const daemon = new Daemon(cfg, startBackend(cfg), log);
  let exiting = false;
  const shutdown = (why: string, code: number) => {
    if (exiting) return;
    exiting = true;
    daemon.stop(why);
    process.exit(code);
  };
  for (const sig of ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT"] as const) process.on(sig, () => shutdown(`signal ${sig}`, EXIT.ok));
  process.on("uncaughtException", (e) => {
    log.error(`internal error: ${e?.stack ?? e}`);
    shutdown("internal error", EXIT.internal);
  });
  process.on("unhandledRejection", (e) => {
    log.error(`internal error: ${(e as Error)?.stack ?? e}`);
    shutdown("internal error", EXIT.internal);
  });
  process.on("exit", () => daemon.stop("exit"));

  try {
    daemon.start();
  } catch (e) {
    daemon.stop("start-up failed");
    throw e;
  }
  // The timers keep the process alive; only a signal ends it.
  return new Promise<never>(() => {});
}

export default defineCommand({
  meta: { name: "run", description: "Detect starving threads and boost them (runs in the foreground)" },
  args: runArgs,
  run: ({ args }) => runDaemon(args),
});
