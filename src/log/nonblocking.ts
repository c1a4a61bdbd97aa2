// Console output that never blocks. A reader that stops reading (journald
// hung, a pipe nobody drains) must not stop the daemon: its one thread also
// runs the passes, restores boosts and handles SIGTERM. What can't be written
// now is dropped (the sink counts and reports it).
import { constants as fsc, fstatSync, openSync, writeSync } from "node:fs";
import { setNonBlocking } from "../ffi/libc";

/**
 * A console fd that never blocks. A terminal (one that got ^S) or a pipe is
 * opened again through /proc/self/fd: a file description of stalld's own,
 * made non-blocking, so the shell or the reader that shares the original is
 * left as it was. A socket cannot be opened again: its description is made
 * non-blocking (journald's stream is stalld's alone). A file is written as is.
 */
export class NonBlockingFd {
  /** The unwritten end of a line a stream took only part of: written before anything else. */
  private pending: Buffer | null = null;
  /** The fd written to: `fd` itself, or stalld's own non-blocking copy of it. */
  readonly fd: number;

  constructor(readonly original: number) {
    this.fd = original;
    try {
      const st = fstatSync(original);
      if (st.isFIFO() || st.isCharacterDevice())
        this.fd = openSync(`/proc/self/fd/${original}`, fsc.O_WRONLY | fsc.O_NONBLOCK | fsc.O_NOCTTY);
      else if (st.isSocket()) setNonBlocking(original);
    } catch {
      // No such fd, or it cannot be opened again: writes may block as before; nothing better to do.
    }
  }

  /** Bytes of `line` written; 0: dropped (full, gone, or an earlier line's end still pending). */
  write(line: string): number {
    if (this.pending && !this.flushPending()) return 0;
    const bytes = Buffer.from(line, "utf8");
    const n = this.tryWrite(bytes);
    if (n < 0) return 0;
    // A stream socket can take part of a line: the rest goes first next time, so lines stay whole.
    if (n < bytes.length) this.pending = Buffer.from(bytes.subarray(n));
    return n;
  }

  private flushPending(): boolean {
    const n = this.tryWrite(this.pending!);
    if (n < 0) return false;
    this.pending = n < this.pending!.length ? Buffer.from(this.pending!.subarray(n)) : null;
    return this.pending === null;
  }

  /** -1 when nothing could be written (EAGAIN, or the reader is gone). */
  private tryWrite(bytes: Uint8Array): number {
    try {
      return writeSync(this.fd, bytes);
    } catch {
      return -1;
    }
  }
}
