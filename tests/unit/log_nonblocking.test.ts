// Log sinks never block: a pipe nobody reads and a full syslog socket drop
// lines (counted, then reported) instead of stopping the daemon's one thread.
import { afterEach, describe, expect, test } from "bun:test";
import { closeSync, constants as fsc, mkdtempSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isNonBlocking } from "../../src/ffi/libc";
import { DatagramReceiver, sendDatagram } from "../../src/ffi/unix_socket";
import { consoleSink, syslogDatagram, syslogSink } from "../../src/log/logger";
import { NonBlockingFd } from "../../src/log/nonblocking";

const cleanup: (() => void)[] = [];
afterEach(() => {
  while (cleanup.length) cleanup.pop()!();
});

/** A FIFO: the read end (non-blocking, for draining) and a plain write end. */
function fifo(): { r: number; w: number; path: string } {
  const dir = mkdtempSync(join(tmpdir(), "stalld-fifo-"));
  const path = join(dir, "f");
  expect(Bun.spawnSync(["mkfifo", path]).exitCode).toBe(0);
  const r = openSync(path, fsc.O_RDONLY | fsc.O_NONBLOCK);
  const w = openSync(path, fsc.O_WRONLY);
  cleanup.push(() => {
    closeSync(r);
    closeSync(w);
    rmSync(dir, { recursive: true, force: true });
  });
  return { r, w, path };
}

function drain(fd: number): string {
  const buf = Buffer.alloc(1 << 16);
  let out = "";
  for (;;) {
    try {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) return out;
      out += buf.toString("utf8", 0, n);
    } catch {
      return out; // EAGAIN: empty
    }
  }
}

/** Writes filler straight to the (now non-blocking) fd until the pipe is full. */
function fill(fd: number): number {
  const chunk = Buffer.alloc(4096, "x");
  let n = 0;
  for (;;) {
    try {
      n += writeSync(fd, chunk);
    } catch {
      return n;
    }
  }
}

describe("NonBlockingFd", () => {
  test("a full pipe drops lines instead of blocking; once drained, lines go through again", () => {
    const { r, w } = fifo();
    const out = new NonBlockingFd(w);
    // stalld writes through a description of its own: the one it was given (shared with a
    // shell or another writer) is left blocking.
    expect(out.fd).not.toBe(w);
    expect(isNonBlocking(w)).toBe(false);
    expect(isNonBlocking(out.fd)).toBe(true);
    expect(fill(out.fd)).toBeGreaterThan(0); // returns, so stalld's fd is non-blocking
    const t0 = performance.now();
    expect(out.write("one\n")).toBe(0);
    expect(out.write("two\n")).toBe(0);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(drain(r)).toMatch(/^x+$/);
    expect(out.write("three\n")).toBe(6);
    expect(drain(r)).toBe("three\n");
  });

  test("a terminal: its own non-blocking description, the terminal's left as the shell had it", () => {
    // script(1) gives the child a pseudo-terminal as stdout.
    const probe = join(import.meta.dir, "../helpers/nonblocking_probe.ts");
    const r = Bun.spawnSync(["script", "-qec", `${process.execPath} ${probe}`, "/dev/null"], { stdout: "pipe" });
    expect(r.stdout.toString()).toContain("tty=true own=true own-nonblocking=true shared-nonblocking=false");
  });

  test("a regular file is left blocking and written whole", () => {
    const dir = mkdtempSync(join(tmpdir(), "stalld-file-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const fd = openSync(join(dir, "log"), "w");
    cleanup.push(() => closeSync(fd));
    const out = new NonBlockingFd(fd);
    expect(out.write("line\n")).toBe(5);
  });
});

describe("consoleSink on a pipe nobody reads", () => {
  test("the next line that gets through is preceded by how many were dropped", () => {
    const { r, w, path } = fifo();
    const sink = consoleSink(w, true);
    // Filled through a non-blocking writer of the test's own (the sink's fd is its own too).
    const filler = openSync(path, fsc.O_WRONLY | fsc.O_NONBLOCK);
    cleanup.push(() => closeSync(filler));
    fill(filler);
    const d = new Date();
    sink.write("info", "lost 1", d, {});
    sink.write("warn", "lost 2", d, {});
    drain(r);
    sink.write("info", "back", d, {});
    expect(drain(r)).toBe("<4>2 log line(s) dropped: stderr was not being read\n<6>back\n");
    sink.write("info", "again", d, {});
    expect(drain(r)).toBe("<6>again\n");
  });
});

describe("syslog sink", () => {
  test("the datagram syslog(3) sends: <PRI>Mmm dd hh:mm:ss ident[pid]: message, local time", () => {
    expect(syslogDatagram(30, new Date(2026, 11, 2, 3, 4, 5), "stalld", 42, "monitoring CPUs 1")).toBe(
      "<30>Dec  2 03:04:05 stalld[42]: monitoring CPUs 1",
    );
    expect(syslogDatagram(27, new Date(2026, 0, 15, 23, 59, 9), "stalld", 7, "%s%n")).toBe(
      "<27>Jan 15 23:59:09 stalld[7]: %s%n",
    );
  });

  test("a full socket drops messages without waiting; the first one through says how many", () => {
    const dir = mkdtempSync(join(tmpdir(), "stalld-syslog-"));
    const path = join(dir, "log");
    const rx = DatagramReceiver.bind(path);
    cleanup.push(() => {
      rx.close();
      rmSync(dir, { recursive: true, force: true });
    });
    let filler = 0;
    for (;;) {
      try {
        sendDatagram(path, "filler");
        filler++;
      } catch {
        break;
      }
    }
    expect(filler).toBeGreaterThan(0);
    const sink = syslogSink(path);
    const t0 = performance.now();
    sink.write("info", "lost", new Date(), {});
    expect(performance.now() - t0).toBeLessThan(1000);
    while (rx.receive(0) !== null);
    sink.write("error", "back", new Date(), {});
    const got = [rx.receive(100), rx.receive(100)];
    expect(got[0]).toMatch(
      new RegExp(
        `^<28>\\w{3} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d stalld\\[${process.pid}\\]: 1 syslog message\\(s\\) dropped: ${path} was full or absent$`,
      ),
    );
    expect(got[1]).toEndWith(`stalld[${process.pid}]: back`);
    expect(got[1]).toStartWith("<27>");
  });

  test("no syslog daemon (nothing at the path): counted, no error thrown", () => {
    const sink = syslogSink(join(tmpdir(), `stalld-no-such-socket-${process.pid}`));
    expect(() => sink.write("info", "nobody listens", new Date(), {})).not.toThrow();
  });
});
