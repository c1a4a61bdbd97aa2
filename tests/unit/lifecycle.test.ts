// Pieces of the daemon's life cycle that need no root: rate limiting, idle
// detection, ignore lists, the pidfile and `stalld throttle` on scratch files.
import { afterEach, describe, expect, test } from "bun:test";
import {
  chownSync,
  existsSync,
  linkSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { throttle } from "../../src/cli/throttle";
import { Pidfile, PidfileError } from "../../src/daemon/pidfile";
import { QuietGate, quietSpacingNs } from "../../src/daemon/quiet_gate";
import { parseIdleTicks } from "../../src/kernel/cpu_idle";
import { parseCpuSomeTotalUs } from "../../src/kernel/psi";
import { RateLimiter, similarityKey } from "../../src/log/rate_limit";
import { recordingLogger } from "../helpers/fakes";

const dirs: string[] = [];
function scratch(): string {
  const d = mkdtempSync(join(tmpdir(), "stalld-unit-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("RateLimiter", () => {
  test("messages differing only in numbers share a burst per window; the next window says how many were dropped", () => {
    let now = 0;
    const rl = new RateLimiter(3, 60_000, () => now);
    expect(similarityKey("boost failed for pid 12 after 1.5 s")).toBe(
      similarityKey("boost failed for pid 99 after 20.25 s"),
    );
    const emitted = [1, 2, 3, 4, 5, 6].map((i) => rl.admit(`boost failed for pid ${i}`).emit);
    expect(emitted).toEqual([true, true, true, false, false, false]);
    expect(rl.admit("another failure").emit).toBe(true);
    now = 60_000;
    expect(rl.admit("boost failed for pid 7")).toEqual({ emit: true, suppressedBefore: 3 });
    for (let i = 0; i < 4; i++) rl.admit("boost failed for pid 8");
    expect(rl.drain()).toEqual([{ sample: "boost failed for pid 7", suppressed: 2 }]);
    expect(rl.drain()).toEqual([]);
  });
});

describe("QuietGate", () => {
  const ticks = (a: number, b: number) =>
    new Map([
      [1, a],
      [2, b],
    ]);
  const idle = (a: number, b: number) => ({ idle: ticks(a, b), someUs: null });

  test("idle: skips only when every monitored CPU idled since the last check, never past the earliest possible crossing", () => {
    const gate = new QuietGate([1, 2], 20e9, quietSpacingNs(5e9, 20e9, true), 2);
    expect(gate.check(0, idle(10, 10))).toBeNull(); // nothing to compare with yet
    expect(gate.check(5e9, idle(11, 10))).toBeNull(); // CPU 2 never idled: snapshot
    // Both idled: skip. Waits started after 5 s cross at 25 s at the earliest; checks half a threshold apart.
    expect(gate.check(10e9, idle(12, 11))).toEqual({ skipNs: 10e9, sign: "idle" });
    expect(gate.skipped).toBe(1);
    // Right after a long skip the bound is the previous check + threshold, not a fixed step.
    expect(gate.check(20e9, idle(13, 12))).toEqual({ skipNs: 10e9, sign: "idle" });
    expect(gate.check(22e9, idle(14, 13))).toEqual({ skipNs: 10e9, sign: "idle" });
    expect(gate.check(41e9, idle(15, 14))).toEqual({ skipNs: 1e9, sign: "idle" });
    // A granularity longer than half the threshold is the spacing.
    const coarse = new QuietGate([1], 20e9, quietSpacingNs(15e9, 20e9, true), 2);
    coarse.check(0, { idle: new Map([[1, 1]]), someUs: null });
    expect(coarse.check(1e9, { idle: new Map([[1, 2]]), someUs: null })?.skipNs).toBe(15e9);
    // A threshold shorter than the granularity: wake at previous check + threshold.
    const short = new QuietGate([1], 2e9, quietSpacingNs(5e9, 2e9, true), 2);
    short.check(0, { idle: new Map([[1, 1]]), someUs: null });
    expect(short.check(1.5e9, { idle: new Map([[1, 2]]), someUs: null })?.skipNs).toBe(0.5e9);
  });

  test("sched_debug dates a wait from the first snapshot that sees it: a quiet system is still looked at every granularity", () => {
    expect(quietSpacingNs(5e9, 20e9, false)).toBe(5e9);
    expect(quietSpacingNs(1e9, 3e9, false)).toBe(1e9);
    expect(quietSpacingNs(1e9, 3e9, true)).toBe(1.5e9);
    const gate = new QuietGate([1], 20e9, quietSpacingNs(5e9, 20e9, false), 2);
    gate.check(0, { idle: new Map([[1, 1]]), someUs: null });
    expect(gate.check(5e9, { idle: new Map([[1, 2]]), someUs: null })).toEqual({ skipNs: 5e9, sign: "idle" });
  });

  test("idle: a CPU missing from /proc/stat (offline), or idle time that proves nothing (null), means a snapshot", () => {
    const gate = new QuietGate([1, 2], 20e9, 5e9, 2);
    gate.check(0, idle(1, 1));
    expect(gate.check(1e9, { idle: new Map([[1, 2]]), someUs: null })).toBeNull();
    expect(gate.check(2e9, { idle: null, someUs: null })).toBeNull();
    expect(gate.check(3e9, idle(3, 3))).toBeNull(); // compared with the null sample before
  });

  test("no wait: PSI some below a quarter of interval / CPUs skips; a task waiting throughout never is", () => {
    const gate = new QuietGate([1], 20e9, quietSpacingNs(5e9, 20e9, true), 2);
    const psi = (us: number) => ({ idle: null, someUs: us });
    gate.check(0, psi(1_000_000));
    // 1 s on 2 CPUs: below 125 ms of "some" nothing waited through it.
    expect(gate.check(1e9, psi(1_001_000))).toEqual({ skipNs: 10e9, sign: "no wait" });
    expect(gate.check(2e9, psi(1_126_000))).toBeNull();
    // One CPU with a waiter for the whole second adds >= 500 ms on 2 CPUs.
    expect(gate.check(3e9, psi(1_626_000))).toBeNull();
    // Too short an interval proves nothing: PSI rounds a CPU's busy time to jiffies.
    expect(gate.check(3.2e9, psi(1_626_000))).toBeNull();
    // No PSI, or a counter that went back: no conclusion.
    expect(gate.check(4e9, psi(1_000))).toBeNull();
    expect(gate.check(4.5e9, psi(1_000))).toEqual({ skipNs: 10e9, sign: "no wait" });
    expect(gate.check(5e9, { idle: null, someUs: null })).toBeNull();
  });

  test("/proc/pressure/cpu parsing", () => {
    expect(
      parseCpuSomeTotalUs(
        "some avg10=0.00 avg60=0.00 avg300=0.03 total=1211006304\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
      ),
    ).toBe(1211006304);
    expect(parseCpuSomeTotalUs("full avg10=0.00 total=5\n")).toBeNull();
    expect(parseCpuSomeTotalUs("")).toBeNull();
  });

  test("/proc/stat parsing adds idle and iowait per CPU and skips the total line", () => {
    const m = parseIdleTicks(
      "cpu  1 2 3 4 5 6 7 8 0 0\ncpu0 10 0 20 300 4 0 1 0 0 0\ncpu1 1 0 2 50 6 0 0 0 0 0\nintr 1 2\n",
    );
    expect([...m.entries()]).toEqual([
      [0, 304],
      [1, 56],
    ]);
  });
});

describe("Pidfile", () => {
  test("written with the pid, locked against a second instance, removed on exit", () => {
    const path = join(scratch(), "stalld.pid");
    const p = Pidfile.create(path, 4242);
    expect(readFileSync(path, "utf8")).toBe("4242\n");
    expect(() => Pidfile.create(path, 4343)).toThrow(/another stalld \(pid 4242\) is running: it holds .*stalld\.pid/);
    expect(p.remove()).toBe(true);
    expect(existsSync(path)).toBe(false);
    expect(p.remove()).toBe(false);
  });

  test("a stale pidfile from a killed daemon is taken over", () => {
    const path = join(scratch(), "stalld.pid");
    writeFileSync(path, "999999\nleftover\n");
    const p = Pidfile.create(path, 7);
    expect(readFileSync(path, "utf8")).toBe("7\n");
    p.remove();
  });

  test("a symlink is refused and its target left untouched; a missing directory is a clear error", () => {
    const d = scratch();
    writeFileSync(join(d, "precious"), "keep me\n");
    symlinkSync(join(d, "precious"), join(d, "stalld.pid"));
    expect(() => Pidfile.create(join(d, "stalld.pid"))).toThrow(PidfileError);
    expect(() => Pidfile.create(join(d, "stalld.pid"))).toThrow(/it is a symlink/);
    expect(readFileSync(join(d, "precious"), "utf8")).toBe("keep me\n");
    expect(() => Pidfile.create(join(d, "nope", "stalld.pid"))).toThrow(/its directory does not exist/);
  });

  test("a file another user owns, or a hard link to another file, is refused and left as it was", () => {
    const d = scratch();
    const owned = join(d, "owned.pid");
    writeFileSync(owned, "keep\n");
    chownSync(owned, 65534, 65534);
    expect(() => Pidfile.create(owned)).toThrow(/owned by uid 65534, not root/);
    expect(readFileSync(owned, "utf8")).toBe("keep\n");
    writeFileSync(join(d, "precious"), "keep me\n");
    linkSync(join(d, "precious"), join(d, "linked.pid"));
    expect(() => Pidfile.create(join(d, "linked.pid"))).toThrow(/it has 2 hard links/);
    expect(readFileSync(join(d, "precious"), "utf8")).toBe("keep me\n");
  });

  test("a file replaced by someone else is not removed", () => {
    const path = join(scratch(), "stalld.pid");
    const p = Pidfile.create(path, 1);
    rmSync(path);
    writeFileSync(path, "2\n");
    expect(p.remove()).toBe(false);
    expect(readFileSync(path, "utf8")).toBe("2\n");
  });
});

describe("stalld throttle", () => {
  test("off saves the value and writes -1; a second off keeps the first saved value; on puts it back", () => {
    const d = scratch();
    const paths = { saved: join(d, "saved"), runtime: join(d, "rt") };
    const { log, lines } = recordingLogger();
    writeFileSync(paths.runtime, "950000\n");
    throttle("off", paths, log);
    expect(readFileSync(paths.runtime, "utf8")).toBe("-1\n");
    expect(readFileSync(paths.saved, "utf8")).toBe("950000\n");
    throttle("off", paths, log);
    expect(readFileSync(paths.saved, "utf8")).toBe("950000\n");
    throttle("on", paths, log);
    expect(readFileSync(paths.runtime, "utf8")).toBe("950000\n");
    expect(existsSync(paths.saved)).toBe(false);
    expect(lines.map((l) => l.msg)).toEqual([
      `RT Throttling disabled (sched_rt_runtime_us was 950000, saved in ${paths.saved})`,
      `RT throttling already disabled, doing nothing (saved in ${paths.saved}: -1 stays at on)`,
      "RT Throttling runtime restored to 950000",
    ]);
  });

  test("off with throttling already off saves -1: on puts back exactly what was found", () => {
    const d = scratch();
    const paths = { saved: join(d, "saved"), runtime: join(d, "rt") };
    writeFileSync(paths.runtime, "-1\n");
    throttle("off", paths, recordingLogger().log);
    expect(readFileSync(paths.saved, "utf8")).toBe("-1\n");
    throttle("on", paths, recordingLogger().log);
    expect(readFileSync(paths.runtime, "utf8")).toBe("-1\n");
    expect(existsSync(paths.saved)).toBe(false);
  });

  test("on without a saved value restores the kernel default; unknown actions are usage errors", () => {
    const d = scratch();
    const paths = { saved: join(d, "saved"), runtime: join(d, "rt") };
    writeFileSync(paths.runtime, "-1\n");
    throttle("on", paths, recordingLogger().log);
    expect(readFileSync(paths.runtime, "utf8")).toBe("950000\n");
    expect(() => throttle("maybe", paths)).toThrow(/throttle: unknown action "maybe" \(off, on or status\)/);
  });
});
