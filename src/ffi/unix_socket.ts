// Thin bindings for AF_UNIX datagram sockets: sd_notify's transport, and the
// receiving end the detaching parent (and the tests) listen on. Nothing here
// can block longer than the caller's timeout.
import { dlopen, ptr } from "bun:ffi";
import { unlinkSync } from "node:fs";
import { SysError } from "./errno";
import { closeFd, errno } from "./libc";

const c = dlopen("libc.so.6", {
  socket: { args: ["i32", "i32", "i32"], returns: "i32" },
  bind: { args: ["i32", "ptr", "u32"], returns: "i32" },
  sendto: { args: ["i32", "ptr", "u64", "i32", "ptr", "u32"], returns: "i64" },
  recv: { args: ["i32", "ptr", "u64", "i32"], returns: "i64" },
  poll: { args: ["ptr", "u64", "i32"], returns: "i32" },
}).symbols;

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const POLLIN = 1;
const SUN_PATH_MAX = 108;

/** struct sockaddr_un for a path; "@name" is the Linux abstract namespace. */
export function sockaddrUn(path: string): { addr: Uint8Array; len: number } {
  const abstract = path.startsWith("@");
  const name = Buffer.from(abstract ? path.slice(1) : path, "utf8");
  // A filesystem path needs its NUL inside sun_path; an abstract name has a leading NUL and no trailing one.
  if (name.length + 1 > SUN_PATH_MAX) throw new SysError("sockaddr_un", 36, `path too long: ${path}`);
  const addr = new Uint8Array(2 + SUN_PATH_MAX);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(name, abstract ? 3 : 2);
  return { addr, len: 2 + name.length + 1 };
}

function openSocket(): number {
  const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new SysError("socket", errno());
  return fd;
}

/** One datagram to `path`; never blocks (a full receiver is an EAGAIN error). */
export function sendDatagram(path: string, data: string | Uint8Array): void {
  const { addr, len } = sockaddrUn(path);
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  const fd = openSocket();
  try {
    const r = c.sendto(
      fd,
      ptr(bytes.byteLength ? bytes : new Uint8Array(1)),
      bytes.byteLength,
      MSG_DONTWAIT | MSG_NOSIGNAL,
      ptr(addr),
      len,
    );
    if (r < 0n) throw new SysError("sendto", errno(), path);
  } finally {
    closeFd(fd);
  }
}

export class DatagramReceiver {
  private readonly buf = new Uint8Array(64 * 1024);
  private readonly pollfd = new Uint8Array(8);
  private closed = false;

  private constructor(
    readonly fd: number,
    readonly path: string,
  ) {
    new DataView(this.pollfd.buffer).setInt32(0, fd, true);
    new DataView(this.pollfd.buffer).setInt16(4, POLLIN, true);
  }

  /** Binds a new socket at a filesystem path (which must not exist yet). */
  static bind(path: string): DatagramReceiver {
    const { addr, len } = sockaddrUn(path);
    const fd = openSocket();
    if (c.bind(fd, ptr(addr), len) < 0) {
      const e = errno();
      closeFd(fd);
      throw new SysError("bind", e, path);
    }
    return new DatagramReceiver(fd, path);
  }

  /** The next datagram as text, or null when none arrives within timeoutMs. */
  receive(timeoutMs: number): string | null {
    const n = c.poll(ptr(this.pollfd), 1, Math.max(0, Math.floor(timeoutMs)));
    if (n < 0) {
      const e = errno();
      if (e === 4) return null; // EINTR: a signal; the caller loops
      throw new SysError("poll", e);
    }
    if (n === 0) return null;
    const r = c.recv(this.fd, ptr(this.buf), this.buf.byteLength, MSG_DONTWAIT);
    if (r < 0n) {
      const e = errno();
      if (e === 11) return null;
      throw new SysError("recv", e);
    }
    return Buffer.from(this.buf.subarray(0, Number(r))).toString("utf8");
  }

  /** Idempotent: closes the socket and removes its path. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeFd(this.fd);
    if (!this.path.startsWith("@")) {
      try {
        unlinkSync(this.path);
      } catch {
        // already gone
      }
    }
  }
}
