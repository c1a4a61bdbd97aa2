// A /proc file read on every pass: the fd stays open and one buffer is reused,
// so a pass costs two preads instead of open, fstat, reads and close, and
// allocates no read buffer (readFileSync takes a fresh 256 KiB one each time).
// seq_file and sysctl files regenerate their text on a read at offset 0.
import { closeSync, openSync, readSync } from "node:fs";

export class ProcFile {
  private fd: number | null = null;
  private buf = Buffer.allocUnsafe(4096);

  constructor(readonly path: string) {}

  /** The whole file as text. Throws what open or read throws (ENOENT, EOPNOTSUPP for psi=0). */
  read(): string {
    try {
      this.fd ??= openSync(this.path, "r");
      let len = 0;
      for (;;) {
        if (len === this.buf.length) {
          const bigger = Buffer.allocUnsafe(this.buf.length * 2);
          this.buf.copy(bigger);
          this.buf = bigger;
        }
        const n = readSync(this.fd, this.buf, len, this.buf.length - len, len);
        if (n === 0) return this.buf.toString("latin1", 0, len);
        len += n;
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

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
