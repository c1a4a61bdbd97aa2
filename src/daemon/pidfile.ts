// The pidfile: opened without following a symlink (a root daemon must not be
// tricked into truncating another file), locked for the daemon's life so a
// second instance is refused, and removed on exit only if it is still ours.
import {
  closeSync,
  constants as fsc,
  fstatSync,
  ftruncateSync,
  lstatSync,
  openSync,
  readSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { flock } from "../ffi/libc";

const LOCK_EX = 2;
const LOCK_NB = 4;

export class PidfileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PidfileError";
  }
}

export class Pidfile {
  private fd: number | null;

  private constructor(
    readonly path: string,
    fd: number,
    private readonly dev: number,
    private readonly ino: number,
  ) {
    this.fd = fd;
  }

  /** Creates or takes over `path` and writes `pid` in it. Throws PidfileError with one readable line. */
  static create(path: string, pid = process.pid): Pidfile {
    let fd: number;
    try {
      // O_NONBLOCK: a FIFO planted at the path must fail (ENXIO), not block the open.
      fd = openSync(path, fsc.O_RDWR | fsc.O_CREAT | fsc.O_NOFOLLOW | fsc.O_NONBLOCK, 0o644);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === "ELOOP" ? "it is a symlink" : code === "ENOENT" ? "its directory does not exist" : code;
      throw new PidfileError(`cannot create pidfile ${path}: ${why}`);
    }
    const st = fstatSync(fd);
    // Not root's, or a hard link to another file: someone else made it, and truncating it would hurt.
    const why = !st.isFile()
      ? "not a regular file"
      : st.uid !== 0
        ? `owned by uid ${st.uid}, not root`
        : st.nlink !== 1
          ? `it has ${st.nlink} hard links`
          : null;
    if (why) {
      closeSync(fd);
      throw new PidfileError(`cannot use pidfile ${path}: ${why}`);
    }
    let locked: boolean;
    try {
      locked = flock(fd, LOCK_EX | LOCK_NB);
    } catch (e) {
      closeSync(fd);
      throw new PidfileError(`cannot lock pidfile ${path}: ${(e as Error).message}`);
    }
    if (!locked) {
      // Read through the fd already open (a regular file): never the path again, which may have changed.
      const buf = Buffer.alloc(32);
      let owner = "";
      try {
        owner = buf.toString("latin1", 0, readSync(fd, buf, 0, buf.length, 0)).trim();
      } catch {}
      closeSync(fd);
      const pid = /^\d+$/.test(owner) ? ` (pid ${owner})` : "";
      throw new PidfileError(`another stalld${pid} is running: it holds ${path}`);
    }
    ftruncateSync(fd, 0);
    writeSync(fd, `${pid}\n`, 0);
    return new Pidfile(path, fd, st.dev, st.ino);
  }

  /** Idempotent. Leaves a file that someone replaced alone. */
  remove(): boolean {
    if (this.fd === null) return false;
    let removed = false;
    try {
      const st = lstatSync(this.path);
      if (st.dev === this.dev && st.ino === this.ino) {
        unlinkSync(this.path);
        removed = true;
      }
    } catch {
      // already gone
    }
    closeSync(this.fd);
    this.fd = null;
    return removed;
  }
}
