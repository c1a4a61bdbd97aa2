// Real RT loads and a real daemon for integration tests. Every load is
// self-bounded (rtload checks the clock and refuses CPU 0), killed by PID in
// cleanup, and runs under a file lock so two runs never overlap on CPU 1.
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { flock, LOCK_EX, LOCK_NB, LOCK_UN, setAffinity } from "../../src/ffi/libc";
import { readFeature, tickNs } from "../../src/kernel/sched_features";

export const ROOT = join(import.meta.dir, "../..");
export const STALLD = join(ROOT, "dist/stalld");
export const RTLOAD = join(ROOT, "build/rtload");
export const LOCK_PATH = "/tmp/stalld-rt.lock";
/** The CPU the tests starve. CPU 0 stays the housekeeping CPU. */
export const VICTIM_CPU = 1;

export function requireRoot(): void {
  if (process.getuid?.() !== 0)
    throw new Error("integration tests need root (CAP_BPF, CAP_SYS_NICE): run them with sudo");
  for (const f of [STALLD, RTLOAD]) if (!existsSync(f)) throw new Error(`${f} is missing: run scripts/setup.sh first`);
}

/** Keeps the test runner's threads off the CPU the hogs own. */
export function pinSelfToCpu0(): void {
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      setAffinity(Number(tid), [0]);
    } catch {
      // a thread that just exited
    }
  }
}

/** Exclusive lock around everything that loads CPU 1; waits up to timeoutMs. */
export async function withRtLock<T>(fn: () => Promise<T>, timeoutMs = 300_000): Promise<T> {
  const fd = openSync(LOCK_PATH, "a");
  try {
    const until = Date.now() + timeoutMs;
    while (!flock(fd, LOCK_EX | LOCK_NB)) {
      if (Date.now() > until) throw new Error(`${LOCK_PATH} still held after ${timeoutMs} ms`);
      await Bun.sleep(200);
    }
    try {
      return await fn();
    } finally {
      flock(fd, LOCK_UN);
    }
  } finally {
    closeSync(fd);
  }
}

export interface Load {
  pid: number;
  proc: Subprocess;
}

/** Starts a helper program and waits (5 s at most) for its first line, which says it is ready. */
export async function spawnUntilLine(
  argv: string[],
  what: string,
): Promise<{ proc: Subprocess<"ignore", "pipe", "inherit">; text: string }> {
  const proc = Bun.spawn(argv, { stdout: "pipe", stderr: "inherit" });
  const reader = proc.stdout.getReader();
  let text = "";
  const until = Date.now() + 5000;
  while (!text.includes("\n")) {
    if (Date.now() > until) throw new Error(`${what} did not start`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`${what} exited early (${await proc.exited})`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return { proc, text };
}

/** Starts rtload and waits until it has set its policy (before it moves onto `cpu`). */
export async function startLoad(
  policy: "fifo" | "other",
  prio: number,
  seconds: number,
  cpu = VICTIM_CPU,
): Promise<Load> {
  const { proc, text } = await spawnUntilLine([RTLOAD, policy, String(prio), String(cpu), String(seconds)], "rtload");
  const pid = Number(/ready (\d+)/.exec(text)?.[1]);
  if (pid !== proc.pid) throw new Error(`unexpected rtload output: ${text}`);
  return { pid, proc };
}

export async function kill(...loads: (Load | Daemon | undefined)[]): Promise<void> {
  for (const l of loads) {
    if (!l || l.proc.exitCode !== null || l.proc.signalCode !== null) continue;
    l.proc.kill("SIGKILL");
    await l.proc.exited;
  }
}

/** CPU time (ns) the task has used, from /proc/<pid>/schedstat. */
export function cpuTimeNs(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")[0]);
}

/** Policy and RT priority as `chrt -p` would report them, from /proc/<pid>/stat. */
export function policyOf(pid: number): { policy: number; rtPriority: number } {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { rtPriority: Number(f[40 - 3]), policy: Number(f[41 - 3]) };
}

export function rtRuntime(): number {
  return Number(readFileSync("/proc/sys/kernel/sched_rt_runtime_us", "utf8").trim());
}

export interface Daemon {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  lines: string[];
  /** Resolves with the first line (from index `from`) matching re, or throws after timeoutMs. */
  waitFor(re: RegExp, timeoutMs: number, from?: number): Promise<string>;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

/**
 * Runs dist/stalld in the foreground (-f) on CPU 0 and collects its log lines.
 * STALLD_TEST_BACKEND=<name> runs every daemon that names no -b on that backend.
 */
export function startDaemon(args: string[], env: Record<string, string> = {}): Daemon {
  const forced =
    process.env.STALLD_TEST_BACKEND && !args.includes("-b") && !args.includes("--btf")
      ? ["-b", process.env.STALLD_TEST_BACKEND]
      : [];
  const argv = args[0] === "run" ? ["run", "-f", ...forced, ...args.slice(1)] : ["-f", ...forced, ...args];
  const proc = Bun.spawn(["taskset", "-c", "0", STALLD, ...argv], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    cwd: "/",
    env: { ...process.env, ...env },
  });
  const lines: string[] = [];
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    let buf = "";
    for await (const chunk of stream) {
      buf += new TextDecoder().decode(chunk);
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    }
    if (buf) lines.push(buf);
  };
  const done = Promise.all([collect(proc.stdout), collect(proc.stderr)]);
  return {
    proc,
    lines,
    async waitFor(re, timeoutMs, from = 0) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const hit = lines.slice(from).find((l) => re.test(l));
        if (hit) return hit;
        if (Date.now() > until || proc.exitCode !== null) {
          throw new Error(`no line matching ${re} within ${timeoutMs} ms; log:\n${lines.join("\n")}`);
        }
        await Bun.sleep(20);
      }
    },
    async stop(signal = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      // A daemon that ignores the signal is a failure, not a hang.
      const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      const code = await proc.exited;
      clearTimeout(timer);
      await done;
      return code;
    },
  };
}

/** Time (ms since epoch) of a daemon log line. */
export function lineTime(line: string): number {
  return Date.parse(line.slice(0, line.indexOf(" ")));
}

/** The runtime the daemon boosts with here: the requested one where HRTICK_DL enforces it, else one tick. */
export function expectedRuntimeNs(requested: bigint): bigint {
  const tick = BigInt(tickNs());
  return requested >= tick || readFeature("HRTICK_DL").state === "on" ? requested : tick;
}

export type ScenarioBody = (d: Daemon, hog: Load, victim: Load, waitingSince: number) => Promise<void>;

/**
 * The daemon (`stalld run -f -c 1 <args>`) monitoring CPU 1, then a FIFO 10
 * hog on it, then a FIFO 1 victim (comm "rtload") queued behind the hog.
 */
export async function starvationScenario(
  args: string[],
  body: ScenarioBody,
  env: Record<string, string> = {},
): Promise<void> {
  await withRtLock(async () => {
    let d: Daemon | undefined;
    let hog: Load | undefined;
    let victim: Load | undefined;
    try {
      d = startDaemon(["run", "-c", "1", ...args], env);
      await d.waitFor(/monitoring CPUs 1 with backend/, 10_000);
      hog = await startLoad("fifo", 10, 25);
      await Bun.sleep(100);
      victim = await startLoad("fifo", 1, 25);
      await body(d, hog, victim, Date.now());
    } finally {
      // The hog first: a SIGKILLed victim needs the CPU to die. The daemon gets
      // SIGTERM so it restores what it changed even when a test failed.
      await kill(hog, victim);
      await d?.stop();
      await kill(d);
    }
  });
}

/** Warning and error lines, except the HRTICK_DL notice this VM always gives (lockdown keeps it off). */
export const errors = (d: Daemon) => d.lines.filter((l) => / (error|warn): /.test(l) && !l.includes("HRTICK_DL is"));
