// `stalld run`: validate everything first, then change the system, then
// monitor until a signal; every exit path puts back what was changed.

import { existsSync, readdirSync } from "node:fs";
import { defineCommand } from "citty";
import pkg from "../../package.json" with { type: "json" };
import type { Backend } from "../backends/backend";
import { dlServerBpfObject } from "../backends/bpf_object";
import { DEFAULT_BACKENDS, makeBackend, REMEDY } from "../backends/factory";
import { NoBackend, startFirstAvailable } from "../backends/select";
import { Journal, recoverOrphans, StateDirError, selfOwner } from "../boost/journal";
import { kernelSchedOps } from "../boost/sched_attr";
import { Daemon } from "../daemon/daemon";
import { isDetachedChild, runDetached, STDERR_BYTES } from "../daemon/detach";
import { restartWithoutGcTimer } from "../daemon/gc_timer";
import { Pidfile, PidfileError } from "../daemon/pidfile";
import { SystemSetup } from "../daemon/setup";
import { mlockallOnFault, raiseMemlockLimit, setAffinity } from "../ffi/libc";
import { redirectToDevNull, setsid } from "../ffi/process";
import { formatCpuList, onlineCpus, possibleCpus } from "../kernel/cpus";
import { type DlServerSource, openDlServerSource } from "../kernel/dl_server_bpf";
import { currentSinks, flushSuppressed, log, setLogContext, setSinks, setVerbosity } from "../log/logger";
import { buildSinks } from "../log/sinks";
import { Metrics, writeMetricsFile } from "../metrics/metrics";
import { notify } from "../systemd/notify";
import { runArgs } from "./args";
import { EXIT, Exit } from "./exit";
import { type BackendName, parseRunConfig, type RunConfig, rejectUnknown } from "./options";

/** The chosen backend, started; without -b, the first of DEFAULT_BACKENDS that starts. */
function startBackend(cfg: RunConfig): Backend {
  try {
    return startFirstAvailable(
      cfg.backend ? [cfg.backend] : DEFAULT_BACKENDS,
      (name) => makeBackend(name, cfg, log),
      log,
    );
  } catch (e) {
    if (e instanceof NoBackend) {
      const remedies = [...new Set(e.failures.map((f) => REMEDY[f.backend as BackendName]).filter(Boolean))];
      throw new Exit(EXIT.environment, `no backend can run: ${e.message}. ${remedies.join(" ")}`.trim());
    }
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

function moveSelf(cpus: readonly number[]): void {
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
function placeSelf(cfg: RunConfig, online: readonly number[]): void {
  if (cfg.affinity) {
    moveSelf(cfg.affinity);
    const overlap = cfg.affinity.filter((c) => cfg.cpus.includes(c));
    log.info(`stalld runs on CPUs ${formatCpuList(cfg.affinity)} (-a)`);
    if (overlap.length)
      log.warn(
        `-a/--affinity includes monitored CPU(s) ${formatCpuList(overlap)}: stalld may queue behind the tasks it watches there`,
      );
    return;
  }
  const housekeeping = online.filter((c) => !cfg.cpus.includes(c));
  if (!housekeeping.length) {
    log.info(
      "every online CPU is monitored: stalld's own threads may queue behind the tasks it watches (leave one CPU out of -c to avoid it)",
    );
    return;
  }
  moveSelf(housekeeping);
  log.info(`stalld runs on CPUs ${formatCpuList(housekeeping)}, outside the monitored ones`);
}

export async function runDaemon(args: Record<string, unknown>): Promise<never> {
  rejectUnknown(args, runArgs);
  const online = onlineCpus();
  const cfg = parseRunConfig(args, online, possibleCpus().length);
  setVerbosity(cfg.verbose ? 1 : 0);
  if (process.geteuid?.() !== 0) throw new Exit(EXIT.environment, "stalld must run as root");
  const setup = new SystemSetup(cfg, log);
  setup.precheck();

  const detached = isDetachedChild();
  if (!cfg.foreground && !detached) process.exit(await runDetached());
  restartWithoutGcTimer((why) => log.debug(`Bun's idle GC timer stays on: ${why}`));
  if (detached) {
    setsid();
    process.chdir("/");
  }
  setSinks(buildSinks(cfg, { console: true }));

  // From here on every exit path runs cleanup(): it undoes what was done so far.
  let pidfile: Pidfile | null = null;
  let daemon: Daemon | null = null;
  let dlServers: DlServerSource | null = null;
  let server: ReturnType<typeof Bun.serve> | null = null;
  let cleaned = false;
  const cleanup = (why: string) => {
    if (cleaned) return;
    cleaned = true;
    daemon?.stop(why);
    dlServers?.close();
    server?.stop(true);
    if (pidfile?.remove()) log.info(`removed pidfile ${pidfile.path}`);
    notify("STOPPING=1");
    flushSuppressed();
  };
  let exiting = false;
  const shutdown = (why: string, code: number) => {
    if (exiting) return;
    exiting = true;
    cleanup(why);
    process.exit(code);
  };
  for (const sig of ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT"] as const)
    process.on(sig, () => shutdown(`signal ${sig}`, EXIT.ok));
  process.on("uncaughtException", (e) => {
    log.error(`internal error: ${e?.stack ?? e}`);
    shutdown("internal error", EXIT.internal);
  });
  process.on("unhandledRejection", (e) => {
    log.error(`internal error: ${(e as Error)?.stack ?? e}`);
    shutdown("internal error", EXIT.internal);
  });
  process.on("exit", () => cleanup("exit"));

  try {
    if (cfg.pidfile) {
      try {
        pidfile = Pidfile.create(cfg.pidfile);
      } catch (e) {
        if (e instanceof PidfileError) throw new Exit(EXIT.environment, e.message);
        throw e;
      }
    }
    const journal = openJournal(cfg);
    if (journal) setup.throttling.useJournal(journal);
    lockMemory();
    placeSelf(cfg, online);
    const backend = startBackend(cfg);
    setLogContext({ backend: backend.name });
    try {
      dlServers = openDlServerSource(dlServerBpfObject(), cfg.cpus, log, cfg.btfPath ?? undefined);
      const metrics = cfg.metricsFile || cfg.metricsListen ? new Metrics(pkg.version, backend.name) : undefined;
      if (metrics && cfg.metricsListen) server = serveMetrics(cfg.metricsListen, metrics);
      daemon = new Daemon(cfg, backend, log, {
        setup,
        dlServers: () => dlServers!.read(),
        journal: journal ?? undefined,
        metrics,
        afterPass: metrics && cfg.metricsFile ? metricsFileWriter(cfg.metricsFile, metrics) : undefined,
      });
    } catch (e) {
      backend.stop();
      throw e;
    }
    daemon.start();
  } catch (e) {
    cleanup("start-up failed");
    throw e;
  }
  const ready = `READY=1\nSTATUS=monitoring CPUs ${formatCpuList(cfg.cpus)}\nMAINPID=${process.pid}`;
  if (detached) becomeDaemon(cfg, ready);
  else notify(ready);
  // The timers keep the process alive; only a signal ends it.
  return new Promise<never>(() => {});
}

/** /metrics over HTTP; a port that cannot be bound ends the start-up, before anything changed. */
function serveMetrics(listen: NonNullable<RunConfig["metricsListen"]>, metrics: Metrics): ReturnType<typeof Bun.serve> {
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      hostname: listen.hostname,
      port: listen.port,
      fetch: (req) =>
        new URL(req.url).pathname === "/metrics"
          ? new Response(metrics.render(), { headers: { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" } })
          : new Response("stalld: metrics are at /metrics\n", { status: 404 }),
    });
  } catch (e) {
    throw new Exit(
      EXIT.environment,
      `--metrics-listen: cannot listen on ${listen.hostname}:${listen.port}: ${(e as Error).message}`,
    );
  }
  log.info(
    `metrics on http://${listen.hostname.includes(":") ? `[${listen.hostname}]` : listen.hostname}:${listen.port}/metrics`,
  );
  if (!listen.loopback) log.warn(`--metrics-listen ${listen.hostname}: metrics are served beyond this machine`);
  return server;
}

/** After each pass; a failing write is said (rate-limited) and the daemon goes on. */
function metricsFileWriter(path: string, metrics: Metrics): () => void {
  log.info(`metrics written to ${path} after every pass`);
  return () => {
    try {
      writeMetricsFile(path, metrics.render());
    } catch (e) {
      log.warn(`cannot write the metrics file ${path}: ${(e as Error).message}`);
    }
  };
}

/**
 * The state directory, after putting back what a stalld that died left
 * boosted. Log-only changes nothing, so it only says what it found.
 */
function openJournal(cfg: RunConfig): Journal | null {
  if (cfg.logOnly) {
    if (!existsSync(cfg.stateDir)) return null;
    try {
      const left = new Journal(cfg.stateDir, selfOwner()).orphanBoosts(log);
      if (left.length)
        log.warn(
          `${left.length} task(s) may still be boosted by a stalld that died (${cfg.stateDir}); run without -l to restore them`,
        );
    } catch (e) {
      log.debug(`state directory not read: ${(e as Error).message}`);
    }
    return null;
  }
  let journal: Journal;
  try {
    journal = new Journal(cfg.stateDir, selfOwner());
  } catch (e) {
    if (e instanceof StateDirError) throw new Exit(EXIT.environment, `${e.message} (--state-dir)`);
    throw e;
  }
  const n = recoverOrphans(journal, kernelSchedOps, log);
  if (n) log.info(`${n} task(s) left boosted by a stalld that died were restored`);
  return journal;
}

/**
 * The detached child once monitoring: tells the parent it is ready (and how
 * many bytes of messages to copy first), then lives without a terminal or
 * stdio; logs go to syslog unless -k/-s chose otherwise.
 */
function becomeDaemon(cfg: RunConfig, ready: string): void {
  if (!cfg.logKmsg && !cfg.logSyslog)
    log.info("detached: logging to syslog from now on (-k for the kernel log, -f to stay in the foreground)");
  const written = currentSinks().reduce((n, s) => n + (s.written ?? 0), 0);
  // Detached before READY: once the parent has returned, the daemon has no stdio left.
  setSinks(buildSinks({ ...cfg, logSyslog: cfg.logSyslog || !cfg.logKmsg }, { console: false }));
  redirectToDevNull([0, 1, 2]);
  notify(`${ready}\n${STDERR_BYTES}=${written}`);
  delete process.env.NOTIFY_SOCKET;
}

export default defineCommand({
  meta: { name: "run", description: "Detect starving threads and boost them (detaches unless -f or -v)" },
  args: runArgs,
  run: ({ args }) => runDaemon(args),
});
