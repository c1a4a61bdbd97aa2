// What every loader of a BPF object (both BPF backends, the DL-server reader)
// does the same way: route libbpf's log, run an iterator to its end, and turn
// a load failure into one line.

import * as bpf from "../ffi/libbpf";
import { closeFd, readFd } from "../ffi/libc";
import type { Logger } from "../log/logger";

/** libbpf's warn is ours; its info is our debug; its debug is our trace. */
function emit(log: Logger, level: bpf.LibbpfLevel, raw: string): void {
  const msg = raw.replace(/^libbpf: /, "");
  if (level === "warn") log.warn(`libbpf: ${msg}`);
  else if (level === "info") log.debug(`libbpf: ${msg}`);
  else log.trace(`libbpf: ${msg}`);
}

/**
 * Routes libbpf's messages to the log. While an object loads they are held
 * back: a load that fails becomes one line (the backend after it may work),
 * with libbpf's whole story at debug level.
 */
export class LibbpfLog {
  private held: { level: bpf.LibbpfLevel; msg: string }[] = [];
  private loading = true;

  constructor(private readonly log: Logger) {
    bpf.setLibbpfPrint((level, msg) => (this.loading ? this.held.push({ level, msg }) : emit(log, level, msg)));
  }

  /** Loaded: what was held back is logged as libbpf said it. */
  loaded(): void {
    this.loading = false;
    for (const h of this.held.splice(0)) emit(this.log, h.level, h.msg);
  }

  /** Failed: the held messages go to debug; returns the failure in one line. */
  failed(e: unknown): string {
    this.loading = false;
    const held = this.held.splice(0);
    for (const h of held) emit(this.log, h.level === "warn" ? "info" : h.level, h.msg);
    return condenseFailure(
      errorMessage(e),
      held.filter((h) => h.level === "warn").map((h) => h.msg),
    );
  }
}

/**
 * The error plus what libbpf said first (the cause; the rest is its
 * consequences) and, for a verifier rejection, the verifier's last line.
 */
export function condenseFailure(error: string, warnings: string[]): string {
  const lines = warnings
    .flatMap((w) => w.split("\n"))
    .map((l) => l.trim().replace(/^libbpf: /, ""))
    .filter(Boolean);
  const begin = lines.findIndex((l) => l.includes("-- BEGIN PROG LOAD LOG --"));
  const end = lines.findIndex((l, i) => i > begin && l.includes("-- END PROG LOAD LOG --"));
  const verifier =
    begin >= 0 && end > begin + 1
      ? lines
          .slice(begin + 1, end)
          .filter((l) => !/^(processed|verification time|stack depth)/.test(l))
          .at(-1)
      : undefined;
  const first = lines.find((l) => !l.includes("PROG LOAD LOG"));
  const text = [error, first, verifier && `verifier: ${verifier}`].filter(Boolean).join(": ");
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

/**
 * Runs an attached iterator once: each read() runs the program in the kernel
 * over the next tasks (CPU work, never a sleep) until it returns 0.
 * Returns the bytes written into `buf` (grown if it fills up).
 */
export function runIterator(link: bpf.BpfLink, buf: { bytes: Uint8Array }): number {
  const fd = bpf.iterCreate(bpf.linkFd(link));
  let len = 0;
  try {
    for (;;) {
      if (len === buf.bytes.byteLength) {
        const bigger = new Uint8Array(buf.bytes.byteLength * 2);
        bigger.set(buf.bytes);
        buf.bytes = bigger;
      }
      const n = readFd(fd, buf.bytes.subarray(len));
      if (n === 0) return len;
      len += n;
    }
  } finally {
    closeFd(fd);
  }
}

/** The one-line message of whatever a load threw. */
function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** When no BPF backend can start: what they need. */
export const BPF_REMEDY =
  "The BPF backends need kernel BTF (/sys/kernel/btf/vmlinux, or --btf FILE) and CAP_BPF with CAP_PERFMON " +
  "(or CAP_SYS_ADMIN).";
