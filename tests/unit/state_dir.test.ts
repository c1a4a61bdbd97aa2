// Crash safety with fakes: boosts recorded before they are applied and removed
// after, a dead stalld's boosts and throttling value recovered, a live one's
// left alone, an unsafe state directory refused.
import { afterEach, describe, expect, test } from "bun:test";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ownership } from "../../src/boost/policy";
import { RESTORE_RETRY_MS, RtThrottling } from "../../src/boost/rt_throttling";
import { type Owner, restoreOrphans, StateDir, StateDirError } from "../../src/boost/state_dir";
import { SCHED_DEADLINE, SCHED_FLAG_RESET_ON_FORK, type SchedAttr } from "../../src/kernel/sched_attr";
import { FakeSched, FakeTimers, fifo, recordingLogger, testBooster } from "../helpers/fakes";

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "stalld-state-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const DEAD: Owner = { pid: 999_999, starttime: 1 };
const ME: Owner = { pid: 4242, starttime: 5 };
const dl = (runtime = 20_000n): SchedAttr => ({
  policy: SCHED_DEADLINE,
  flags: SCHED_FLAG_RESET_ON_FORK,
  nice: 0,
  priority: 0,
  runtimeNs: runtime,
  deadlineNs: 1_000_000_000n,
  periodNs: 1_000_000_000n,
});
const params = { method: "deadline" as const, runtimeNs: 20_000n, periodNs: 1_000_000_000n, durationMs: 3000 };
const target = { pid: 10, comm: "victim", cpu: 1, waitedNs: 21e9, starttime: 777 };

describe("the state directory", () => {
  test("a boost is on disk before the policy changes, and gone after the restore", () => {
    const dir = tempDir();
    const state = new StateDir(dir, ME);
    const sched = new FakeSched();
    sched.tasks.set(10, fifo(1));
    const timers = new FakeTimers();
    const seenAtSet: string[][] = [];
    const set = sched.set.bind(sched);
    sched.set = (pid, attr) => {
      seenAtSet.push(readdirSync(dir));
      set(pid, attr);
    };
    const booster = testBooster(
      params,
      recordingLogger().log,
      { starttime: () => 777, cpuTimeNs: () => null },
      { ops: sched, timers: timers, records: state },
    );
    expect(booster.boost(target)).toBe("boosted");
    expect(seenAtSet[0]).toEqual(["boost-10-777.json"]);
    const rec = JSON.parse(readFileSync(join(dir, "boost-10-777.json"), "utf8"));
    expect(rec).toMatchObject({
      owner: ME,
      pid: 10,
      starttime: 777,
      comm: "victim",
      cpu: 1,
      method: "deadline",
      saved: { policy: 1, priority: 1 },
      applied: { policy: 6, runtimeNs: "20000" },
    });
    timers.advance(3000);
    expect(sched.tasks.get(10)).toEqual(fifo(1));
    expect(readdirSync(dir)).toEqual([]);
  });

  test("no record, no boost: a state directory that cannot be written stops the boost", () => {
    const sched = new FakeSched();
    sched.tasks.set(10, fifo(1));
    const { log, lines } = recordingLogger();
    const broken = {
      recordBoost: () => {
        throw new Error("ENOSPC");
      },
      forgetBoost: () => {},
    };
    const booster = testBooster(
      params,
      log,
      { starttime: () => 777, cpuTimeNs: () => null },
      { ops: sched, timers: new FakeTimers(), records: broken },
    );
    expect(booster.boost(target)).toBe("failed");
    expect(sched.sets).toEqual([]);
    expect(
      lines.some(
        (l) =>
          l.level === "error" &&
          l.msg.includes("cannot record the boost of pid 10 (victim) in the state directory (ENOSPC): not boosting it"),
      ),
    ).toBe(true);
  });

  test("a failed boost, or a pid replaced during the boost, leaves no record", () => {
    const dir = tempDir();
    const state = new StateDir(dir, ME);
    const sched = new FakeSched();
    sched.tasks.set(10, fifo(1));
    sched.failSet.set(10, 1);
    const b1 = testBooster(
      params,
      recordingLogger().log,
      { starttime: () => 777, cpuTimeNs: () => null },
      { ops: sched, timers: new FakeTimers(), records: state },
    );
    expect(b1.boost(target)).toBe("failed");
    expect(readdirSync(dir)).toEqual([]);
    sched.failSet.clear();
    const b2 = testBooster(
      params,
      recordingLogger().log,
      { starttime: () => 778, cpuTimeNs: () => null },
      { ops: sched, timers: new FakeTimers(), records: state },
    );
    expect(b2.boost(target)).toBe("gone");
    expect(readdirSync(dir)).toEqual([]);
  });

  test("recovery: a dead stalld's boost is undone wherever the task is still the same and not on its own policy", () => {
    const dir = tempDir();
    const dead = new StateDir(dir, DEAD);
    const sched = new FakeSched();
    const tasks: [number, SchedAttr, number][] = [
      [10, dl(), 777],
      [11, fifo(5), 778],
      [12, dl(), 779],
      [13, dl(4_000_000n), 780],
    ];
    for (const [pid, now] of tasks) sched.tasks.set(pid, now);
    for (const [pid, , st] of tasks)
      dead.recordBoost({
        pid,
        starttime: st,
        comm: `t${pid}`,
        cpu: 1,
        method: "deadline",
        saved: fifo(1),
        applied: dl(),
      });
    const { log, lines } = recordingLogger();
    // 12 was replaced by another task with its pid; 11 (FIFO 5) and 13 (another DEADLINE) were changed, by
    // themselves or someone else: a boost leaves nothing behind, so their saved attributes go back all the same.
    const alive = (pid: number) => (pid === 12 ? 1 : tasks.find((t) => t[0] === pid)![2]);
    const me = new StateDir(dir, ME);
    expect(restoreOrphans(me, sched, log, alive)).toBe(3);
    expect(sched.tasks.get(10)).toEqual(fifo(1));
    expect(sched.tasks.get(11)).toEqual(fifo(1));
    expect(sched.tasks.get(13)).toEqual(fifo(1));
    expect(readdirSync(dir)).toEqual([]);
    const msgs = lines.map((l) => l.msg);
    expect(msgs).toContain(
      `restored pid 10 (t10) (cpu 1) to SCHED_FIFO prio 1 from SCHED_DEADLINE 20000/1000000000 ns: left in a boost by stalld pid ${DEAD.pid}, which died during the boost`,
    );
    expect(
      msgs.some(
        (m) => m.startsWith("pid 12 (t12) in a boost by stalld") && m.endsWith("no longer exists: nothing to restore"),
      ),
    ).toBe(true);
    expect(
      msgs.some((m) => m.startsWith("pid 13 (t13)") && m.endsWith("putting its saved attributes back all the same")),
    ).toBe(true);
  });

  test("a live stalld's records are not touched; an unreadable record is removed and said", () => {
    const dir = tempDir();
    new StateDir(dir, ME).recordBoost({
      pid: 10,
      starttime: 777,
      comm: "v",
      cpu: 1,
      method: "deadline",
      saved: fifo(1),
      applied: dl(),
    });
    writeFileSync(join(dir, "boost-11-1.json"), "{not json");
    const { log, lines } = recordingLogger();
    const other = new StateDir(dir, { pid: 1, starttime: 1 });
    expect(other.orphanBoosts(log, (o) => o.pid === ME.pid)).toEqual([]);
    expect(readdirSync(dir)).toEqual(["boost-10-777.json"]);
    expect(lines.some((l) => l.level === "warn" && l.msg.includes("boost-11-1.json is unreadable"))).toBe(true);
  });

  test("a record whose pid is not its file name's, or is 0 or not a number, is removed and said, never acted on", () => {
    const dir = tempDir();
    const me = new StateDir(dir, ME);
    me.recordBoost({ pid: 10, starttime: 777, comm: "v", cpu: 1, method: "deadline", saved: fifo(1), applied: dl() });
    const good = JSON.parse(readFileSync(join(dir, "boost-10-777.json"), "utf8"));
    const forged = (file: string, over: Record<string, unknown>) =>
      writeFileSync(join(dir, file), JSON.stringify({ ...good, owner: DEAD, ...over }));
    forged("boost-11-777.json", { pid: 1 });
    forged("boost-0-777.json", { pid: 0 });
    forged("boost-12-777.json", { pid: "self" });
    forged("boost-13-778.json", { pid: 13, starttime: 1 });
    forged("boost-14-779.json", { pid: 14, starttime: 779, owner: { pid: "x" } });
    const sched = new FakeSched();
    for (const pid of [0, 1, 11, 12, 13, 14]) sched.tasks.set(pid, dl());
    const { log, lines } = recordingLogger();
    rmSync(join(dir, "boost-10-777.json"));
    expect(restoreOrphans(new StateDir(dir, ME), sched, log, () => 777)).toBe(0);
    expect(sched.sets).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
    expect(lines.filter((l) => l.level === "warn" && l.msg.includes("is unreadable"))).toHaveLength(5);
  });

  test("a write that fails leaves no temporary file; a start sweeps what a crash mid-write left", () => {
    const dir = tempDir();
    const state = new StateDir(dir, ME);
    writeFileSync(join(dir, ".boost-9-1.json.4242.tmp"), "half");
    writeFileSync(join(dir, ".rt_runtime.json.ab12cd34ef56.tmp"), "");
    expect(state.sweep()).toBe(2);
    expect(readdirSync(dir)).toEqual([]);
    // A directory where the record should go: the rename fails, the temporary file goes.
    mkdirSync(join(dir, "boost-10-777.json", "x"), { recursive: true });
    expect(() =>
      state.recordBoost({
        pid: 10,
        starttime: 777,
        comm: "v",
        cpu: 1,
        method: "deadline",
        saved: fifo(1),
        applied: dl(),
      }),
    ).toThrow();
    expect(readdirSync(dir)).toEqual(["boost-10-777.json"]);
  });

  test("settings (debugfs, HRTICK_DL): recorded before the change, a dead owner's found, forgotten after", () => {
    const dir = tempDir();
    const dead = new StateDir(dir, DEAD);
    dead.recordSetting("hrtick_dl");
    const me = new StateDir(dir, ME);
    expect(me.orphanSetting("hrtick_dl")).toEqual({ owner: DEAD });
    expect(me.orphanSetting("debugfs")).toBeNull();
    me.recordSetting("hrtick_dl");
    expect(me.orphanSetting("hrtick_dl", () => true)).toBeNull();
    me.forgetSetting("hrtick_dl");
    expect(readdirSync(dir)).toEqual([]);
  });

  test("the FIFO emulation: still boosted only while on FIFO 98", () => {
    const rec = { method: "fifo", applied: { ...fifo(98) }, saved: fifo(1) } as never;
    expect(ownership(rec, fifo(98))).toBe("boost");
    expect(ownership(rec, fifo(1))).toBe("own");
    expect(ownership(rec, fifo(40))).toBe("changed");
  });

  test("RT throttling: the value is on disk while it is off, and a dead stalld's value is the one restored", () => {
    const dir = tempDir();
    const file = join(dir, "sched_rt_runtime_us");
    writeFileSync(file, "950000\n");
    const { log, lines } = recordingLogger();
    const first = new RtThrottling(log, file, new StateDir(dir, DEAD));
    first.disable();
    expect(readFileSync(file, "utf8").trim()).toBe("-1");
    expect(JSON.parse(readFileSync(join(dir, "rt_runtime.json"), "utf8"))).toEqual({ owner: DEAD, runtimeUs: 950000 });
    // SIGKILL: no restore. The next stalld finds -1 and the dead one's record.
    const second = new RtThrottling(log, file, new StateDir(dir, ME));
    second.disable();
    expect(lines.at(-1)!.msg).toBe(
      `RT throttling was left off by stalld pid ${DEAD.pid}, which died; sched_rt_runtime_us will be restored to 950000 at exit`,
    );
    second.restore();
    expect(readFileSync(file, "utf8").trim()).toBe("950000");
    expect(existsSync(join(dir, "rt_runtime.json"))).toBe(false);
  });

  test("RT throttling: an EBUSY restore (DEADLINE bandwidth not yet released) is tried again for a bounded time; past it the record stays", () => {
    const dir = tempDir();
    const file = join(dir, "sched_rt_runtime_us");
    writeFileSync(file, "950000\n");
    const { log, lines } = recordingLogger();
    let now = 0;
    const slept: number[] = [];
    const clock = {
      now: () => now,
      sleep: (ms: number) => (slept.push(ms), (now += ms)),
      dlBandwidth: () => "dl_bw->total_bw per CPU: 9,9",
    };
    class Busy extends RtThrottling {
      busyFor = 0;
      override write(value: number): void {
        if (value !== -1 && now < this.busyFor)
          throw Object.assign(new Error("EBUSY: resource busy"), { code: "EBUSY" });
        super.write(value);
      }
    }
    const rt = new Busy(log, file, new StateDir(dir, ME), clock);
    rt.disable();
    rt.busyFor = 400;
    rt.restore();
    expect(readFileSync(file, "utf8").trim()).toBe("950000");
    expect(existsSync(join(dir, "rt_runtime.json"))).toBe(false);
    expect(slept.length).toBe(8);
    expect(lines.at(-1)!.msg).toBe("RT Throttling runtime restored to 950000 (once DEADLINE bandwidth was released)");

    // Busy past the bound: one error line with what the kernel accounts; the record stays for the next start.
    const again = new Busy(log, file, new StateDir(dir, ME), clock);
    again.disable();
    again.busyFor = now + 60_000;
    const t0 = now;
    again.restore();
    expect(now - t0).toBeGreaterThanOrEqual(RESTORE_RETRY_MS);
    expect(now - t0).toBeLessThan(RESTORE_RETRY_MS + 100);
    expect(readFileSync(file, "utf8").trim()).toBe("-1");
    expect(existsSync(join(dir, "rt_runtime.json"))).toBe(true);
    const last = lines.at(-1)!;
    expect(last.level).toBe("error");
    expect(last.msg).toContain("(dl_bw->total_bw per CPU: 9,9); the next stalld start puts it back");
    // Any other error is not waited for.
    const other = new (class extends RtThrottling {
      override write(value: number): void {
        if (value !== -1) throw Object.assign(new Error("EACCES: denied"), { code: "EACCES" });
        super.write(value);
      }
    })(log, file, null, clock);
    writeFileSync(file, "950000\n");
    other.disable();
    const t1 = now;
    other.restore();
    expect(now).toBe(t1);
  });

  test("an unsafe state directory is refused: a symlink, or writable by others", () => {
    const dir = tempDir();
    symlinkSync(tmpdir(), join(dir, "link"));
    expect(() => new StateDir(join(dir, "link"), ME)).toThrow(StateDirError);
    chmodSync(dir, 0o777);
    expect(() => new StateDir(dir, ME)).toThrow(/owned by root and writable by root only/);
    chmodSync(dir, 0o700);
    expect(() => new StateDir(dir, ME)).not.toThrow();
  });
});
