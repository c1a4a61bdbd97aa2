import { describe, expect, test } from "bun:test";
import { type BoostMethod, type BoostParams, FIFO_BOOST_PRIORITY } from "../../src/boost/policy";
import { SCHED_DEADLINE, SCHED_FLAG_RESET_ON_FORK } from "../../src/kernel/sched_attr";
import { FakeSched, FakeTimers, fifo, recordingLogger, testBooster } from "../helpers/fakes";

const params = { method: "deadline" as const, runtimeNs: 20_000n, periodNs: 1_000_000_000n, durationMs: 3000 };
const target = (pid: number, cpu = 1) => ({ pid, comm: `victim${pid}`, cpu, waitedNs: 20.5e9, starttime: 777 });

function setup(p: BoostParams & { method: BoostMethod } = params) {
  const sched = new FakeSched();
  const timers = new FakeTimers();
  const { log, lines } = recordingLogger();
  const alive = new Map<number, number>();
  const cpu = new Map<number, number>();
  const probe = {
    starttime: (pid: number) => alive.get(pid) ?? null,
    cpuTimeNs: (pid: number) => cpu.get(pid) ?? null,
  };
  const booster = testBooster(p, log, probe, { ops: sched, timers });
  const add = (pid: number, attr = fifo(1)) => {
    sched.tasks.set(pid, attr);
    alive.set(pid, 777);
  };
  return { sched, timers, lines, booster, alive, cpu, add };
}

describe("Booster", () => {
  test("boosts with SCHED_DEADLINE and RESET_ON_FORK, restores the exact saved attributes after the duration", () => {
    const { sched, timers, lines, booster, add } = setup();
    const saved = fifo(7, SCHED_FLAG_RESET_ON_FORK);
    add(10, saved);
    expect(booster.boost(target(10))).toBe("boosted");
    expect(sched.tasks.get(10)).toEqual({
      policy: SCHED_DEADLINE,
      flags: SCHED_FLAG_RESET_ON_FORK,
      nice: 0,
      priority: 0,
      runtimeNs: 20_000n,
      deadlineNs: 1_000_000_000n,
      periodNs: 1_000_000_000n,
    });
    expect(booster.isBoosted(10)).toBe(true);
    expect(
      lines.find((l) => l.msg.startsWith("boosted pid 10 (victim10) (cpu 1) using SCHED_DEADLINE"))?.msg,
    ).toContain("was SCHED_FIFO prio 7");

    timers.advance(2999);
    expect(sched.tasks.get(10)!.policy).toBe(SCHED_DEADLINE);
    timers.advance(1);
    expect(sched.tasks.get(10)).toEqual(saved);
    expect(booster.isBoosted(10)).toBe(false);
    expect(
      lines.some(
        (l) => l.level === "info" && l.msg.startsWith("restored pid 10 (victim10) (cpu 1) to SCHED_FIFO prio 7"),
      ),
    ).toBe(true);
  });

  test("boosts on different CPUs overlap, each on its own timer", () => {
    const { sched, timers, booster, add } = setup();
    add(10);
    add(11);
    booster.boost(target(10, 1));
    timers.advance(1000);
    booster.boost(target(11, 2));
    expect(booster.count).toBe(2);
    timers.advance(2000);
    expect(sched.tasks.get(10)!.policy).toBe(1);
    expect(sched.tasks.get(11)!.policy).toBe(SCHED_DEADLINE);
    timers.advance(1000);
    expect(sched.tasks.get(11)!.policy).toBe(1);
  });

  test("the end of a boost (not a restore at shutdown) asks for a pass at once", () => {
    const sched = new FakeSched();
    const timers = new FakeTimers();
    let ended = 0;
    const probe = { starttime: () => 777, cpuTimeNs: () => null };
    const booster = testBooster(params, recordingLogger().log, probe, {
      ops: sched,
      timers,
      onBoostEnd: () => ended++,
    });
    sched.tasks.set(10, fifo(1));
    sched.tasks.set(11, fifo(1));
    booster.boost(target(10));
    booster.boost(target(11));
    timers.advance(3000);
    expect(ended).toBe(2);
    booster.boost(target(10));
    booster.restoreAll("SIGTERM");
    expect(ended).toBe(2);
  });

  test("a second boost of a boosted task does nothing", () => {
    const { sched, booster, add } = setup();
    add(10);
    booster.boost(target(10));
    expect(booster.boost(target(10))).toBe("already");
    expect(sched.sets).toHaveLength(1);
  });

  test("a task that died (ESRCH) is dropped with one debug line, no error", () => {
    const { lines, booster } = setup();
    expect(booster.boost(target(99))).toBe("gone");
    expect(lines.filter((l) => l.level === "error")).toHaveLength(0);
    expect(lines.filter((l) => l.level === "debug" && l.msg.includes("pid 99"))).toHaveLength(1);
  });

  test("a failed boost logs the original's line with the errno", () => {
    const { sched, lines, booster, add } = setup();
    add(10);
    sched.failSet.set(10, 1);
    expect(booster.boost(target(10))).toBe("failed");
    const err = lines.filter((l) => l.level === "error");
    expect(err).toHaveLength(1);
    expect(err[0]!.msg).toStartWith("boost_with_deadline failed to boost pid 10: Operation not permitted (EPERM)");
    expect(booster.isBoosted(10)).toBe(false);
  });

  test("a task that exits during its boost is not restored and logs no error", () => {
    const { sched, timers, lines, booster, add, alive } = setup();
    add(10);
    booster.boost(target(10));
    alive.delete(10);
    sched.tasks.delete(10);
    timers.advance(3000);
    expect(lines.filter((l) => l.level === "error")).toHaveLength(0);
    expect(lines.filter((l) => l.msg.includes("exited during its boost"))).toHaveLength(1);
  });

  test("a reused pid is never restored onto the new task", () => {
    const { sched, timers, booster, add, alive } = setup();
    add(10);
    booster.boost(target(10));
    alive.set(10, 999); // another task with the same pid
    sched.tasks.set(10, fifo(50));
    timers.advance(3000);
    expect(sched.tasks.get(10)).toEqual(fifo(50));
  });

  test("a task whose policy changed during the boost (itself or anyone) gets its saved attributes back, with a warning", () => {
    const { sched, timers, lines, booster, add } = setup();
    add(10);
    booster.boost(target(10));
    sched.tasks.set(10, fifo(30));
    timers.advance(3000);
    expect(sched.tasks.get(10)).toEqual(fifo(1));
    expect(lines.some((l) => l.level === "warn" && l.msg.includes("by itself or someone else"))).toBe(true);
  });

  test("restoreAll puts every boosted task back at once and cancels their timers", () => {
    const { sched, timers, booster, add } = setup();
    add(10, fifo(1));
    add(11, fifo(2));
    booster.boost(target(10));
    booster.boost(target(11, 2));
    booster.restoreAll("SIGTERM");
    expect(sched.tasks.get(10)).toEqual(fifo(1));
    expect(sched.tasks.get(11)).toEqual(fifo(2));
    expect(timers.size).toBe(0);
    expect(booster.count).toBe(0);
  });

  test("the restore line says how much CPU the boost gave; none at all is a warning with the likely cause", () => {
    const { timers, lines, booster, add, cpu } = setup();
    add(10);
    add(11);
    cpu.set(10, 1_000_000);
    cpu.set(11, 5_000_000);
    booster.boost(target(10));
    booster.boost(target(11, 2));
    cpu.set(10, 9_500_000);
    timers.advance(3000);
    expect(lines.find((l) => l.msg.startsWith("restored pid 10"))?.msg).toContain("ran 8.500 ms");
    expect(lines.find((l) => l.msg.startsWith("restored pid 11"))?.msg).toContain("ran 0.000 ms");
    const warns = lines.filter((l) => l.level === "warn");
    expect(warns).toHaveLength(1);
    expect(warns[0]!.msg).toStartWith("pid 11 (victim11) got no CPU time from its 3.00 s SCHED_DEADLINE boost");
    expect(warns[0]!.msg).toContain("HRTICK_DL");
  });

  test("a fair task on the default slice goes back to the default slice, not to a custom one", () => {
    const { sched, timers, booster, add } = setup();
    // 6.12+ sched_getattr reports a fair task's current slice as its runtime.
    const other = { policy: 0, flags: 0n, nice: 5, priority: 0, runtimeNs: 2_800_000n, deadlineNs: 0n, periodNs: 0n };
    add(10, other);
    add(11, other);
    booster.boost({ ...target(10), customSlice: false });
    booster.boost({ ...target(11, 2), customSlice: true });
    timers.advance(3000);
    expect(sched.tasks.get(10)).toEqual({ ...other, runtimeNs: 0n });
    expect(sched.tasks.get(11)).toEqual(other);
  });

  test("a pid reused between detection and boost is put back at once, never left boosted", () => {
    const { sched, timers, lines, booster, add, alive } = setup();
    add(10, fifo(3));
    const realSet = sched.set.bind(sched);
    sched.set = (pid, attr) => {
      realSet(pid, attr);
      alive.set(10, 999); // the task at this pid is now another one
    };
    expect(booster.boost(target(10))).toBe("gone");
    expect(sched.tasks.get(10)).toEqual(fifo(3));
    expect(booster.isBoosted(10)).toBe(false);
    expect(timers.size).toBe(0);
    expect(lines.some((l) => l.level === "warn" && l.msg.includes("replaced by another task"))).toBe(true);
  });

  test("a failed restore logs the original's restore_policy line", () => {
    const { sched, timers, lines, booster, add } = setup();
    add(10);
    booster.boost(target(10));
    sched.failSet.set(10, 22);
    timers.advance(3000);
    expect(lines.find((l) => l.level === "error")?.msg).toStartWith(
      "restore_policy: failed to restore sched policy for pid 10: Invalid argument (EINVAL)",
    );
  });

  describe("SCHED_FIFO emulation (-F)", () => {
    const fifoParams: BoostParams & { method: BoostMethod } = {
      method: "fifo",
      runtimeNs: 50_000n,
      periodNs: 500_000_000n,
      durationMs: 2000,
    };

    test("FIFO 98 for the runtime, the task's own policy for the rest of each period, for the duration", () => {
      const { sched, timers, lines, booster, add } = setup(fifoParams);
      const own = fifo(5);
      add(10, own);
      expect(booster.boost(target(10))).toBe("boosted");
      // Each slice: FIFO 98, a blocking sleep of the runtime, the saved attributes back.
      const boosted = sched.sets.filter((x) => x.attr.priority === FIFO_BOOST_PRIORITY);
      expect(boosted).toHaveLength(1);
      expect(boosted[0]!.attr).toMatchObject({ policy: 1, priority: 98, flags: SCHED_FLAG_RESET_ON_FORK });
      expect(timers.slept).toEqual([50_000]);
      expect(sched.tasks.get(10)).toEqual(own);
      timers.advance(2000);
      // Slices at 0, 0.5, 1.0 and 1.5 s; the 2 s mark is the end of the boost.
      expect(timers.slept).toEqual([50_000, 50_000, 50_000, 50_000]);
      expect(sched.sets.filter((x) => x.attr.priority === FIFO_BOOST_PRIORITY)).toHaveLength(4);
      expect(sched.tasks.get(10)).toEqual(own);
      expect(booster.isBoosted(10)).toBe(false);
      expect(timers.size).toBe(0);
      expect(
        lines.some(
          (l) =>
            l.msg.startsWith("boosted pid 10 (victim10) (cpu 1) using SCHED_FIFO") &&
            l.msg.includes("for 50000 ns every 500000000 ns"),
        ),
      ).toBe(true);
      expect(
        lines.some((l) => l.msg.startsWith("restored pid 10 (victim10) (cpu 1) to SCHED_FIFO prio 5 from SCHED_FIFO")),
      ).toBe(true);
    });

    test("a task that exits between slices is dropped without errors; stop restores mid-boost", () => {
      const { sched, timers, lines, booster, add } = setup(fifoParams);
      add(10);
      add(11);
      booster.boost(target(10));
      booster.boost(target(11, 2));
      sched.tasks.delete(10);
      timers.advance(500);
      expect(booster.isBoosted(10)).toBe(false);
      expect(lines.some((l) => l.level === "error" || l.level === "warn")).toBe(false);
      booster.restoreAll("stalld stopping");
      expect(sched.tasks.get(11)).toEqual(fifo(1));
      expect(timers.size).toBe(0);
    });

    test("a task re-prioritised between slices gets its saved attributes back at the restore", () => {
      const { sched, timers, lines, booster, add } = setup(fifoParams);
      add(10, fifo(5));
      booster.boost(target(10));
      sched.tasks.set(10, fifo(40));
      booster.restore(10, "test");
      expect(sched.tasks.get(10)).toEqual(fifo(5));
      expect(lines.some((l) => l.level === "warn" && l.msg.includes("by itself or someone else"))).toBe(true);
      expect(timers.size).toBe(0);
    });
  });
});
