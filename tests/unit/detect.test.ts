// Detection decisions and the wake-up schedule, driven by a fake clock.
import { describe, expect, test } from "bun:test";
import type { RunningTask, Snapshot, Waiter } from "../../src/backends/backend";
import { type DetectConfig, detect, MIN_SLEEP_NS, passLines, passStepNs } from "../../src/daemon/detect";

const S = 1e9;
const FIFO = 1;
const OTHER = 0;

const hog = (cpu: number, prio = 89): RunningTask => ({
  cpu,
  pid: 1000 + cpu,
  tgid: 1000 + cpu,
  prio,
  policy: FIFO,
  ranNs: 100 * S,
});
const fair = (cpu: number): RunningTask => ({
  cpu,
  pid: 2000 + cpu,
  tgid: 2000 + cpu,
  prio: 120,
  policy: OTHER,
  ranNs: S,
});
const waiter = (pid: number, cpu: number, waitedNs: number, prio = 98): Waiter => ({
  pid,
  tgid: pid,
  cpu,
  prio,
  policy: FIFO,
  waitedNs,
});
const cfg = (over: Partial<DetectConfig> = {}): DetectConfig => ({
  cpus: new Set([1, 2]),
  thresholdNs: 20 * S,
  granularityNs: 5 * S,
  ...over,
});
const snap = (waiters: Waiter[], running: (RunningTask | undefined)[]): Snapshot => ({ nowNs: 0n, waiters, running });
const never = () => false;

describe("which tasks starve", () => {
  test("waited past the threshold on a monitored CPU held by an RT task", () => {
    const d = detect(snap([waiter(10, 1, 21 * S)], [undefined, hog(1)]), cfg(), never);
    expect(d.starving.map((s) => s.waiter.pid)).toEqual([10]);
    expect(d.starving[0]!.running.pid).toBe(1001);
  });

  test("a DEADLINE task holding the CPU counts as RT", () => {
    const dl: RunningTask = { ...hog(1), prio: -1, policy: 6 };
    expect(detect(snap([waiter(10, 1, 21 * S)], [undefined, dl]), cfg(), never).starving).toHaveLength(1);
  });

  test("exactly at the threshold is starving; 1 ns before is not", () => {
    expect(detect(snap([waiter(10, 1, 20 * S)], [undefined, hog(1)]), cfg(), never).starving).toHaveLength(1);
    expect(detect(snap([waiter(10, 1, 20 * S - 1)], [undefined, hog(1)]), cfg(), never).starving).toHaveLength(0);
  });

  test("not on an unmonitored CPU", () => {
    expect(detect(snap([waiter(10, 0, 99 * S)], [hog(0)]), cfg(), never).starving).toHaveLength(0);
  });

  test("not behind a fair task, the idle task, or an unknown CPU state", () => {
    const idle: RunningTask = { cpu: 1, pid: 0, tgid: 0, prio: 120, policy: OTHER, ranNs: 0 };
    for (const running of [fair(1), idle, undefined]) {
      expect(detect(snap([waiter(10, 1, 99 * S)], [undefined, running]), cfg(), never).starving).toHaveLength(0);
    }
  });

  test("a task recorded as waiting behind itself (a stale record) is not starving", () => {
    const self: RunningTask = { ...hog(1), pid: 10 };
    expect(detect(snap([waiter(10, 1, 99 * S)], [undefined, self]), cfg(), never).starving).toHaveLength(0);
  });

  test("a task already boosted is skipped", () => {
    const d = detect(
      snap([waiter(10, 1, 30 * S), waiter(11, 1, 30 * S)], [undefined, hog(1)]),
      cfg(),
      (pid) => pid === 10,
    );
    expect(d.starving.map((s) => s.waiter.pid)).toEqual([11]);
  });

  test("several CPUs at once", () => {
    const d = detect(
      snap([waiter(10, 1, 30 * S), waiter(11, 2, 25 * S), waiter(12, 2, S)], [undefined, hog(1), hog(2)]),
      cfg(),
      never,
    );
    expect(d.starving.map((s) => s.waiter.pid).sort()).toEqual([10, 11]);
  });
});

describe("when the next pass runs", () => {
  test("capped by the granularity with nothing waiting", () => {
    expect(detect(snap([], []), cfg(), never).nextPassNs).toBe(5 * S);
  });

  test("capped by the threshold when the granularity is longer", () => {
    expect(detect(snap([], []), cfg({ granularityNs: 600 * S, thresholdNs: 10 * S }), never).nextPassNs).toBe(10 * S);
  });

  test("at the earliest crossing of a known waiter, on any CPU state", () => {
    const d = detect(snap([waiter(10, 1, 18 * S), waiter(11, 2, 17.5 * S)], [undefined, fair(1)]), cfg(), never);
    expect(d.nextPassNs).toBe(2 * S);
  });

  test("waiters already past the threshold do not pull the next pass to now", () => {
    const d = detect(snap([waiter(10, 1, 50 * S)], [undefined, fair(1)]), cfg(), never);
    expect(d.nextPassNs).toBe(5 * S);
  });

  test("never less than the minimum sleep", () => {
    const d = detect(snap([waiter(10, 1, 20 * S - 10)], [undefined, hog(1)]), cfg(), never);
    expect(d.nextPassNs).toBe(MIN_SLEEP_NS);
  });
});

/**
 * A fake world on a fake clock: tasks start waiting at given times behind a
 * hog on CPU 1. Runs passes the way the daemon schedules them and returns
 * when each task was detected and how many passes it took.
 */
function simulate(starts: Record<number, number>, c: DetectConfig, untilNs: number) {
  let now = 0;
  const detectedAt: Record<number, number> = {};
  const passTimes: number[] = [];
  while (now <= untilNs) {
    passTimes.push(now);
    const waiters = Object.entries(starts)
      .filter(([pid, t]) => t <= now && detectedAt[Number(pid)] === undefined)
      .map(([pid, t]) => waiter(Number(pid), 1, now - t));
    const d = detect(snap(waiters, [undefined, hog(1)]), c, never);
    for (const s of d.starving) detectedAt[s.waiter.pid] = now;
    now += d.nextPassNs;
  }
  return { detectedAt, passTimes };
}

describe("wake-up schedule on a fake clock", () => {
  test("a waiter is detected the moment it crosses the threshold, not a granularity later", () => {
    const { detectedAt } = simulate({ 10: 1.3 * S }, cfg(), 60 * S);
    expect(detectedAt[10]).toBe(21.3 * S);
  });

  test("idle: one pass per granularity, nothing faster", () => {
    const { passTimes } = simulate({}, cfg(), 60 * S);
    expect(passTimes).toHaveLength(13);
    for (let i = 1; i < passTimes.length; i++) expect(passTimes[i]! - passTimes[i - 1]!).toBe(5 * S);
  });

  test("a task that starts waiting just after a pass is still caught at its crossing", () => {
    const c = cfg({ granularityNs: 600 * S, thresholdNs: 5 * S });
    const { detectedAt, passTimes } = simulate({ 10: 0.001 * S }, c, 20 * S);
    expect(detectedAt[10]).toBeCloseTo(5.001 * S, -3);
    // Nothing between the passes at 0, 5 s and the crossing at 5.001 s.
    expect(passTimes.slice(0, 3)).toEqual([0, 5 * S, 5.001 * S]);
  });

  test("several waiters each detected at their own crossing", () => {
    const { detectedAt } = simulate({ 10: 0, 11: 2.5 * S, 12: 7.25 * S }, cfg(), 60 * S);
    expect(detectedAt).toEqual({ 10: 20 * S, 11: 22.5 * S, 12: 27.25 * S });
  });
});

/**
 * A backend that dates a wait by the first read that sees it (sched_debug):
 * the waiter's age is the time since the first pass that saw it waiting.
 */
function simulateUndated(startNs: number, c: DetectConfig, untilNs: number): number | undefined {
  let now = 0;
  let firstSeen: number | undefined;
  while (now <= untilNs) {
    if (startNs <= now) firstSeen ??= now;
    const waiters = firstSeen === undefined ? [] : [waiter(10, 1, now - firstSeen)];
    const d = detect(snap(waiters, [undefined, hog(1)]), c, never);
    if (d.starving.length) return now;
    now += d.nextPassNs;
  }
  return undefined;
}

describe("the read step of a backend without kernel-dated waits", () => {
  test("kernel-dated backends sleep the whole granularity", () => {
    expect(passStepNs(5 * S, 3 * S, true)).toBe(5 * S);
  });

  test("the defaults (-t 20 -g 5) are unchanged", () => {
    expect(passStepNs(5 * S, 20 * S, false)).toBe(5 * S);
  });

  test("a short threshold is read four times per threshold", () => {
    expect(passStepNs(5 * S, 3 * S, false)).toBe(0.75 * S);
  });

  test("undated, whatever the moment a wait starts, it is seen starving by 1.25 x threshold", () => {
    const thresholdNs = 3 * S;
    const step = passStepNs(5 * S, thresholdNs, false);
    for (let start = 0; start < 10 * S; start += 0.137 * S) {
      const at = simulateUndated(start, cfg({ thresholdNs, granularityNs: step }), 60 * S)!;
      expect(at - start).toBeGreaterThanOrEqual(thresholdNs);
      expect(at - start).toBeLessThanOrEqual(1.25 * thresholdNs + MIN_SLEEP_NS);
    }
  });

  test("without the step, the same wait could take threshold + a whole pass", () => {
    const late = simulateUndated(0.001 * S, cfg({ thresholdNs: 3 * S, granularityNs: 5 * S }), 60 * S)!;
    expect(late - 0.001 * S).toBeGreaterThan(5.9 * S);
  });
});

describe("the original's verbose pass lines", () => {
  test("one line per monitored CPU that was read: RT tasks running or queued, and the waiters", () => {
    const s = snap([waiter(10, 1, S), waiter(11, 1, S, 120), waiter(12, 2, S)], [undefined, hog(1), fair(2)]);
    expect(passLines(s, [0, 1, 2])).toEqual([
      "\tchecking cpu 0 - rt: 0 - starving: 0",
      "\tchecking cpu 1 - rt: 2 - starving: 2",
      "CPU 1 has 2 waiting tasks",
      "\tchecking cpu 2 - rt: 1 - starving: 1",
      "CPU 2 has 1 waiting tasks",
    ]);
    // A CPU that idled since the last pass is not judged now (quiet_gate.ts), one the backend
    // could not read (sched_debug: a malformed section) was not read: no line for either.
    expect(passLines({ ...s, unread: [0] }, [0, 1, 2], new Set([2]))).toEqual([
      "\tchecking cpu 1 - rt: 2 - starving: 2",
      "CPU 1 has 2 waiting tasks",
    ]);
  });

  test("an idle CPU is read and has nothing", () => {
    const idle: RunningTask = { cpu: 1, pid: 0, tgid: 0, prio: 140, policy: OTHER, ranNs: 0 };
    expect(passLines(snap([], [undefined, idle]), [1])).toEqual(["\tchecking cpu 1 - rt: 0 - starving: 0"]);
  });
});
