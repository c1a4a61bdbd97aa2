// What both BPF backends do the same way: route libbpf's log, run an
// iterator to its end, and condense a load failure into one line.
import * as bpf from "../ffi/libbpf";
import { SysError } from "../ffi/errno";
import { closeFd, readFd } from "../ffi/libc";
import type { Logger } from "../log/logger";

export function routeLibbpfLog(log: Logger): void {
  bpf.setLibbpfPrint((level, msg) => {
    if (level === "warn") log.warn(`libbpf: ${msg}`);
    else if (level === "info") log.debug(`libbpf: ${msg}`);
    else log.trace(`libbpf: ${msg}`);
  });
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

/** One line for a load failure: the errno name plus what libbpf was doing. */
export function condense(e: unknown): string {
  if (e instanceof SysError) return e.message;
  return e instanceof Error ? e.message : String(e);
}
