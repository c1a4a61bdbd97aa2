// Thin libc bindings for the daemon's own process: session, stdio, short sleeps, exec.
import { dlopen, ptr } from "bun:ffi";
import { closeSync, constants as fsc, openSync } from "node:fs";
import { SysError } from "./errno";
import { cstr, errno } from "./libc";

const c = dlopen("libc.so.6", {
  setsid: { args: [], returns: "i32" },
  dup2: { args: ["i32", "i32"], returns: "i32" },
  nanosleep: { args: ["ptr", "ptr"], returns: "i32" },
  execve: { args: ["ptr", "ptr", "ptr"], returns: "i32" },
  // sighandler_t is pointer-sized: SIG_IGN is 1.
  signal: { args: ["i32", "u64"], returns: "u64" },
}).symbols;

/** A new session without a controlling terminal (the detached daemon). */
export function setsid(): void {
  if (c.setsid() < 0) throw new SysError("setsid", errno());
}

/** Points each fd at /dev/null (the detached daemon's stdio). */
export function redirectToDevNull(fds: readonly number[]): void {
  const devnull = openSync("/dev/null", fsc.O_RDWR);
  try {
    for (const fd of fds) if (c.dup2(devnull, fd) < 0) throw new SysError("dup2", errno());
  } finally {
    closeSync(devnull);
  }
}

const ts = new BigInt64Array(2);

/** Blocks the calling thread for `ns` (callers keep it to about a millisecond). */
export function sleepNs(ns: number): void {
  ts[0] = BigInt(Math.floor(ns / 1e9));
  ts[1] = BigInt(Math.floor(ns % 1e9));
  // EINTR: a signal arrived; returning early is what the caller wants then.
  c.nanosleep(ptr(ts), null);
}

/** A NULL-terminated char*[]; the strings stay referenced by `keep` until the call. */
function cArray(strings: readonly string[], keep: Buffer[]): BigUint64Array {
  const arr = new BigUint64Array(strings.length + 1);
  strings.forEach((s, i) => {
    const b = cstr(s);
    keep.push(b);
    arr[i] = BigInt(ptr(b));
  });
  return arr;
}

/** execve(2): replaces this process image, same pid. Returns only by throwing. */
export function execve(path: string, argv: readonly string[], env: Record<string, string | undefined>): never {
  const keep: Buffer[] = [];
  const file = cstr(path);
  const args = cArray(argv, keep);
  const envp = cArray(
    Object.entries(env)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${v}`),
    keep,
  );
  c.execve(ptr(file), ptr(args), ptr(envp));
  throw new SysError(`execve ${path}`, errno());
}

const SIG_IGN = 1n;

/** Ignores signals JS cannot handle (SIGSTKFLT, the real-time ones), so they cannot end the process unannounced. */
export function ignoreSignals(signals: readonly number[]): void {
  for (const sig of signals) c.signal(sig, SIG_IGN);
}
