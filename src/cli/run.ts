// `stalld run`: validate everything first, then (detached unless -f) acquire
// what the daemon needs through start.ts, and monitor until a signal; every
// exit path unwinds the lifecycle, which puts back what was changed.
import { defineCommand } from "citty";
import pkg from "../../package.json" with { type: "json" };
import type { RunConfig } from "../config";
import { isDetachedChild, runDetached, STDERR_BYTES } from "../daemon/detach";
import { Lifecycle } from "../daemon/lifecycle";
import { restartWithRuntimeEnv } from "../daemon/runtime_env";
import { precheck, startDaemon } from "../daemon/start";
import { realSystem } from "../daemon/system";
import { EXIT, requireRoot } from "../errors";
import { ignoreSignals, redirectToDevNull, setsid } from "../ffi/process";
import { formatCpuList, onlineCpus, possibleCpus } from "../kernel/cpus";
import { currentSinks, flushSuppressed, log, setSinks, setVerbosity } from "../log/logger";
import { buildSinks } from "../log/sinks";
import { notify } from "../systemd/notify";
import { runArgs } from "./args";
import { parseRunConfig, rejectUnknown } from "./options";

/**
 * Every signal whose default is to end the process ends it cleanly: the
 * usual stop signals and the ones a stray `kill -USR1` or a profiler's timer
 * sends. JS cannot catch SIGSTKFLT (16) or the real-time signals (34-64):
 * they are ignored instead (SIGRTMIN 32 and 33 belong to the C library).
 */
const STOPPING_SIGNALS = [
  "SIGTERM",
  "SIGINT",
  "SIGHUP",
  "SIGQUIT",
  "SIGUSR1",
  "SIGUSR2",
  "SIGALRM",
  "SIGVTALRM",
  "SIGPROF",
  "SIGIO",
  "SIGXCPU",
] as const;
const IGNORED_SIGNALS = [16, ...Array.from({ length: 31 }, (_, i) => 34 + i)];

export async function runDaemon(args: Record<string, unknown>): Promise<never> {
  rejectUnknown(args, runArgs);
  const cfg = parseRunConfig(args, onlineCpus(), possibleCpus().length);
  setVerbosity(cfg.verbose ? 1 : 0);
  requireRoot("stalld");
  const sys = realSystem(log);
  precheck(cfg, sys);

  const detached = isDetachedChild();
  if (!cfg.foreground && !detached) process.exit(await runDetached());
  restartWithRuntimeEnv((why) => log.debug(`Bun's runtime settings stay at their defaults: ${why}`));
  if (detached) {
    setsid();
    process.chdir("/");
  }
  setSinks(buildSinks(cfg, { console: true }));

  // From here on every exit path unwinds what was acquired so far, in reverse.
  const life = new Lifecycle(log);
  // Undone last: what the rate limiter held back, then the original's last line.
  life.push("log sinks", () => {
    flushSuppressed();
    log.info("stalld shutting down");
  });
  life.push("readiness", () => notify("STOPPING=1"));
  let exiting = false;
  const shutdown = (why: string, code: number) => {
    if (exiting) return;
    exiting = true;
    life.unwind(why);
    process.exit(code);
  };
  for (const sig of STOPPING_SIGNALS) process.on(sig, () => shutdown(`signal ${sig}`, EXIT.ok));
  ignoreSignals(IGNORED_SIGNALS);
  process.on("uncaughtException", (e) => {
    log.error(`internal error: ${e?.stack ?? e}`);
    shutdown("internal error", EXIT.internal);
  });
  process.on("unhandledRejection", (e) => {
    log.error(`internal error: ${(e as Error)?.stack ?? e}`);
    shutdown("internal error", EXIT.internal);
  });
  process.on("exit", () => life.unwind("exit"));

  try {
    startDaemon(cfg, pkg.version, sys, life, log);
  } catch (e) {
    life.unwind("start-up failed");
    throw e;
  }
  const ready = `READY=1\nSTATUS=monitoring CPUs ${formatCpuList(cfg.cpus)}\nMAINPID=${process.pid}`;
  if (detached) becomeDaemon(cfg, ready);
  else notify(ready);
  // The timers keep the process alive; only a signal ends it.
  return new Promise<never>(() => {});
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
