// A kernel file read again and again (each pass): the fd stays open and one
// buffer is reused, so a read is a pread or two instead of open, fstat, reads
// and close, and allocates nothing (readFileSync takes a fresh 256 KiB buffer
// each time). seq_file and sysctl files regenerate their text on a read at
// offset 0.
import { closeSync, openSync, readSync } from "node:fs";

export class ProcFile {
  private fd: number | null = null;
  private buf: Buffer;

  constructor(
    readonly path: string,
    private readonly minBytes = 4096,
  ) {
    this.buf = Buffer.allocUnsafe(minBytes);
  }

  /**
   * The whole file, in the reused buffer: valid until the next read. The
   * buffer grows when the file fills it and shrinks again when it is four
   * times what the file needs (a burst of 10,000 threads in sched/debug must
   * not pin megabytes for good). Throws what open or read throws (ENOENT,
   * EOPNOTSUPP for psi=0).
   */
  readBytes(): Buffer {
    try {
      this.fd ??= openSync(this.path, "r");
      let len = 0;
      for (;;) {
        if (len === this.buf.length) {
          const bigger = Buffer.allocUnsafe(this.buf.length * 2);
          this.buf.copy(bigger, 0, 0, len);
          this.buf = bigger;
        }
        const n = readSync(this.fd, this.buf, len, this.buf.length - len, len);
        if (n === 0) break;
        len += n;
      }
      const out = this.buf.subarray(0, len);
      if (this.buf.length > this.minBytes && this.buf.length >= 4 * len)
        this.buf = Buffer.allocUnsafe(Math.max(this.minBytes, 2 * len));
      return out;
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** The whole file as text. */
  read(): string {
    return this.readBytes().toString("latin1");
  }

  /** Before the file's filesystem is unmounted; a later read opens it again. */
  close(): void {
    if (this.fd === null) return;
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    this.fd = null;
  }
}
