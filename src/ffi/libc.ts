// Thin typed bindings to the libc calls stalld needs. Nothing here decides anything.
import { dlopen, type Pointer, ptr, read } from "bun:ffi";
import { SysError } from "./errno";

const lib = dlopen("libc.so.6", {
  // One generic prototype: sched_setattr/getattr have no glibc wrapper on Debian 12.
  syscall: { args: ["i64", "i64", "i64", "i64", "i64", "i64"], returns: "i64" },
  __errno_location: { args: [], returns: "ptr" },
  strerror: { args: ["i32"], returns: "cstring" },
  clock_gettime: { args: ["i32", "ptr"], returns: "i32" },
  clock_getres: { args: ["i32", "ptr"], returns: "i32" },
  read: { args: ["i32", "ptr", "u64"], returns: "i64" },
  close: { args: ["i32"], returns: "i32" },
  mmap: { args: ["ptr", "u64", "i32", "i32", "i32", "i64"], returns: "i64" },
  munmap: { args: ["ptr", "u64"], returns: "i32" },
  vsnprintf: { args: ["ptr", "u64", "ptr", "ptr"], returns: "i32" },
  mount: { args: ["cstring", "cstring", "cstring", "u64", "ptr"], returns: "i32" },
  umount2: { args: ["cstring", "i32"], returns: "i32" },
  mlockall: { args: ["i32"], returns: "i32" },
  setrlimit: { args: ["i32", "ptr"], returns: "i32" },
  sched_setaffinity: { args: ["i32", "u64", "ptr"], returns: "i32" },
  flock: { args: ["i32", "i32"], returns: "i32" },
  sysconf: { args: ["i32"], returns: "i64" },
  // Variadic, called with one int argument: ABI-safe on x86_64 and aarch64.
  fcntl: { args: ["i32", "i32", "i32"], returns: "i32" },
});
const c = lib.symbols;

export function errno(): number {
  return read.i32(c.__errno_location()!, 0);
}

export function strerror(errnum: number): string {
  return String(c.strerror(errnum));
}

/** NUL-terminated C string for a cstring argument. */
export function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`, "utf8");
}

const ARCH_SYSCALLS: Record<string, { setattr: number; getattr: number }> = {
  x64: { setattr: 314, getattr: 315 },
  arm64: { setattr: 274, getattr: 275 },
  riscv64: { setattr: 274, getattr: 275 },
};

function schedNr(which: "setattr" | "getattr"): number {
  const nr = ARCH_SYSCALLS[process.arch];
  if (!nr) throw new Error(`sched_${which}: unsupported architecture ${process.arch}`);
  return nr[which];
}

/** sched_getattr(2) into `attr` (48 bytes). Throws SysError. */
export function schedGetattr(pid: number, attr: Uint8Array): void {
  const r = c.syscall(schedNr("getattr"), pid, ptr(attr), attr.byteLength, 0, 0);
  if (r < 0n) throw new SysError("sched_getattr", errno());
}

/** sched_setattr(2) from `attr`. Throws SysError. */
export function schedSetattr(pid: number, attr: Uint8Array): void {
  const r = c.syscall(schedNr("setattr"), pid, ptr(attr), 0, 0, 0);
  if (r < 0n) throw new SysError("sched_setattr", errno());
}

const CLOCK_MONOTONIC = 1;
const timespec = new BigInt64Array(2);
const timespecPtr = ptr(timespec);

/** CLOCK_MONOTONIC in ns: the clock bpf_ktime_get_ns() reads. */
export function monotonicNs(): bigint {
  if (c.clock_gettime(CLOCK_MONOTONIC, timespecPtr) !== 0) throw new SysError("clock_gettime", errno());
  return timespec[0]! * 1_000_000_000n + timespec[1]!;
}

/** read(2) into buf; returns bytes read. Only for fds that cannot block. */
export function readFd(fd: number, buf: Uint8Array): number {
  const r = Number(c.read(fd, ptr(buf), buf.byteLength));
  if (r < 0) throw new SysError("read", errno());
  return r;
}

export function closeFd(fd: number): void {
  c.close(fd);
}

const PROT_READ = 1;
const MAP_SHARED = 1;

/** Read-only shared mapping of an fd (a BPF_F_MMAPABLE map). */
export function mmapRead(fd: number, length: number): Pointer {
  const p = c.mmap(null, length, PROT_READ, MAP_SHARED, fd, 0);
  if (p === -1n) throw new SysError("mmap", errno());
  return Number(p) as Pointer;
}

export function munmap(p: Pointer, length: number): void {
  c.munmap(p, length);
}

export function vsnprintf(buf: Uint8Array, fmt: Pointer, args: Pointer): number {
  return c.vsnprintf(ptr(buf), buf.byteLength, fmt, args);
}

export function mount(source: string, target: string, fstype: string): void {
  if (c.mount(cstr(source), cstr(target), cstr(fstype), 0, null) !== 0)
    throw new SysError(`mount ${fstype} on ${target}`, errno());
}

export function umount(target: string): void {
  if (c.umount2(cstr(target), 0) !== 0) throw new SysError(`umount ${target}`, errno());
}

const MCL_CURRENT = 1;
const MCL_FUTURE = 2;
const MCL_ONFAULT = 4;

/** Lock pages as they are touched: MCL_ONFAULT, because Bun maps a huge address space. */
export function mlockallOnFault(): void {
  if (c.mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) !== 0) throw new SysError("mlockall", errno());
}

const RLIMIT_MEMLOCK = 8;

export function raiseMemlockLimit(): void {
  const rlim = new BigUint64Array([0xffffffffffffffffn, 0xffffffffffffffffn]);
  if (c.setrlimit(RLIMIT_MEMLOCK, ptr(rlim)) !== 0) throw new SysError("setrlimit(RLIMIT_MEMLOCK)", errno());
}

/** sched_setaffinity(2) of one thread to the given CPUs. */
export function setAffinity(tid: number, cpus: readonly number[]): void {
  const mask = new BigUint64Array(16); // 1024 CPUs
  for (const cpu of cpus) mask[cpu >> 6]! |= 1n << BigInt(cpu & 63);
  if (c.sched_setaffinity(tid, mask.byteLength, ptr(mask)) !== 0) throw new SysError("sched_setaffinity", errno());
}

export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

/** flock(2); returns false on EWOULDBLOCK with LOCK_NB. */
export function flock(fd: number, op: number): boolean {
  if (c.flock(fd, op) === 0) return true;
  const e = errno();
  if (e === 11) return false;
  throw new SysError("flock", e);
}

const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;

/** Whether an fd's open file description has O_NONBLOCK. */
export function isNonBlocking(fd: number): boolean {
  const flags = c.fcntl(fd, F_GETFL, 0);
  if (flags < 0) throw new SysError("fcntl(F_GETFL)", errno());
  return (flags & O_NONBLOCK) !== 0;
}

/** Sets O_NONBLOCK on an open file description (shared with whoever else holds it). */
export function setNonBlocking(fd: number): void {
  const flags = c.fcntl(fd, F_GETFL, 0);
  if (flags < 0 || c.fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) throw new SysError("fcntl(O_NONBLOCK)", errno());
}

const _SC_CLK_TCK = 2;

export function clockTicksPerSecond(): number {
  return Number(c.sysconf(_SC_CLK_TCK));
}

const resTs = new BigInt64Array(2);

/** clock_getres(2) in ns. */
export function clockResolutionNs(clockId: number): number {
  if (c.clock_getres(clockId, ptr(resTs)) < 0) throw new SysError("clock_getres", errno());
  return Number(resTs[0]!) * 1e9 + Number(resTs[1]!);
}
