import { describe, expect, test } from "bun:test";
import {
  checkIntervalMs,
  judgeProgress,
  maxRuntimeNs,
  nextRung,
  StrengthMemory,
  strongerRuntimeNs,
} from "../../src/boost/escalation";
import { ownership } from "../../src/boost/policy";
import { selfOwner } from "../../src/boost/state_dir";
import { SCHED_DEADLINE, SCHED_FIFO } from "../../src/kernel/sched_attr";
import { FakeSched, FakeTimers, fifo, recordingLogger, testBooster } from "../helpers/fakes";

const S = 1_000_000_000n;

describe("escalation decisions", () => {
  test("the ladder goes up tenfold from -r to 1/20 of the period, and stops there", () => {
    const steps: bigint[] = [20_000n];
    for (let r = strongerRuntimeNs(20_000n, 20_000n, S); r !== null; r = strongerRuntimeNs(r, 20_000n, S))
      steps.push(r);
    expect(steps).toEqual([20_000n, 200_000n, 2_000_000n, 20_000_000n, 50_000_000n]);
    expect(maxRuntimeNs(20_000n, S)).toBe(50_000_000n);
    // A longer period allows more; -r above the bound is the bound.
    expect(maxRuntimeNs(20_000n, 4n * S)).toBe(200_000_000n);
    expect(maxRuntimeNs(1_000_000n, 200_000_000n)).toBe(10_000_000n);
    expect(strongerRuntimeNs(10_000_000n, 1_000_000n, 200_000_000n)).toBeNull();
  });

  test("looks come a twentieth of the period apart, within 25-250 ms", () => {
    expect(checkIntervalMs(S)).toBe(50);
    expect(checkIntervalMs(200_000_000n)).toBe(25);
    expect(checkIntervalMs(4n * S)).toBe(200);
    expect(checkIntervalMs(10n * S)).toBe(250);
  });

  test("still starving: runnable and on a CPU less than half the time", () => {
    const at = (state: string | null, cpuNs: number | null, atMs: number) => ({ state, cpuNs, atMs });
    expect(judgeProgress(at("R", 0, 0), at("R", 20_000, 100))).toBe("starving");
    expect(judgeProgress(at("R", 0, 0), at("R", 60e6, 100))).toBe("progressing");
    expect(judgeProgress(at("R", 0, 0), at("S", 0, 100))).toBe("progressing");
    expect(judgeProgress(at("R", 0, 0), at("D", 0, 100))).toBe("progressing");
    expect(judgeProgress(at("R", 0, 0), at(null, null, 100))).toBe("gone");
    // Without CPU time, runnable is all there is to go by.
    expect(judgeProgress(at("R", null, 0), at("R", null, 100))).toBe("starving");
    // Not run at all since the boost began: still queued, whatever the state letter says.
    expect(judgeProgress(at("R", 500, 0), at("S", 500, 100), 500)).toBe("starving");
    expect(judgeProgress(at("R", 500, 0), at("D", 500, 100), 500)).toBe("starving");
    expect(judgeProgress(at("R", 500, 0), at("S", 520, 100), 500)).toBe("progressing");
  });

  test("strength memory: per pid and start time, expires, bounded", () => {
    const m = new StrengthMemory(1000, 2);
    const dl = (runtimeNs: bigint) => ({ sliced: false, runtimeNs });
    m.remember(10, 1, dl(200_000n), 0);
    expect(m.get(10, 1, 500)).toEqual(dl(200_000n));
    expect(m.get(10, 2, 500)).toBeNull();
    expect(m.get(10, 1, 1501)).toBeNull();
    m.remember(10, 1, dl(1n), 0);
    m.remember(11, 1, dl(2n), 0);
    m.remember(12, 1, { sliced: true, runtimeNs: 3n }, 0);
    expect(m.size).toBe(2);
    expect(m.get(12, 1, 0)).toEqual({ sliced: true, runtimeNs: 3n });
    m.forget(12, 1);
    expect(m.get(12, 1, 0)).toBeNull();
  });

  test("the rung above DEADLINE's bound is FIFO slices of the same bandwidth, and there is none above that", () => {
    expect(nextRung({ sliced: false, runtimeNs: 20_000n }, 20_000n, S)).toEqual({ sliced: false, runtimeNs: 200_000n });
    expect(nextRung({ sliced: false, runtimeNs: 50_000_000n }, 20_000n, S)).toEqual({
      sliced: true,
      runtimeNs: 50_000_000n,
    });
    expect(nextRung({ sliced: true, runtimeNs: 50_000_000n }, 20_000n, S)).toBeNull();
  });

  test("a crash between recording a raise and applying it leaves a boost the restart still recognises", () => {
    const rec = {
      pid: 1,
      starttime: 1,
      comm: "x",
      cpu: 1,
      method: "deadline" as const,
      owner: selfOwner(),
      at: 0,
      saved: fifo(1),
      applied: {
        policy: SCHED_DEADLINE,
        flags: 1n,
        nice: 0,
        priority: 0,
        runtimeNs: 200_000n,
        deadlineNs: S,
        periodNs: S,
      },
    };
    expect(ownership(rec, { ...rec.applied, runtimeNs: 20_000n })).toBe("boost");
    expect(ownership(rec, { ...rec.applied, runtimeNs: 2_000_000n })).not.toBe("boost");
    expect(ownership(rec, fifo(1))).toBe("own");
    // Raised to the FIFO rung: the record names the DEADLINE boost it came from.
    const fifoRec = {
      ...rec,
      method: "fifo" as const,
      applied: { ...fifo(98), flags: 1n },
      raisedFrom: { ...rec.applied, runtimeNs: 50_000_000n },
    };
    expect(ownership(fifoRec, fifo(98))).toBe("boost");
    expect(ownership(fifoRec, { ...rec.applied, runtimeNs: 50_000_000n })).toBe("boost");
    expect(ownership(fifoRec, fifo(1))).toBe("own");
  });
});

/** A booster over a fake task whose state and CPU time the test sets, on a fake clock. */
function setup() {
  const sched = new FakeSched();
  const timers = new FakeTimers();
  const { log, lines } = recordingLogger();
  const task = { state: "R" as string | null, cpuNs: 0 };
  const records: bigint[] = [];
  const probe = { starttime: () => 777, cpuTimeNs: () => task.cpuNs, state: () => task.state };
  const stateDir = {
    recordBoost: (r: { applied: { runtimeNs: bigint } }) => void records.push(r.applied.runtimeNs),
    forgetBoost: () => {},
  };
  const booster = testBooster({ method: "deadline", runtimeNs: 20_000n, periodNs: S, durationMs: 3000 }, log, probe, {
    ops: sched,
    timers,
    records: stateDir,
  });
  sched.tasks.set(10, fifo(10));
  const target = { pid: 10, comm: "victim", cpu: 1, waitedNs: 3e9, starttime: 777 };
  return { sched, timers, lines, booster, task, target, records };
}

describe("Booster escalation (fake clock)", () => {
  test("a task still waiting is raised tenfold every look up to the bound, then to FIFO slices, each in one line; its policy comes back", () => {
    const { sched, timers, lines, booster, task, target, records } = setup();
    booster.boost(target);
    expect(sched.tasks.get(10)!.runtimeNs).toBe(20_000n);
    const seen: string[] = [];
    const now = () => {
      const a = sched.tasks.get(10)!;
      return a.policy === SCHED_DEADLINE ? `DL ${a.runtimeNs}` : `FIFO ${a.priority}`;
    };
    for (let i = 0; i < 5; i++) {
      task.cpuNs += 20_000;
      timers.advance(50);
      seen.push(now());
    }
    expect(seen).toEqual(["DL 200000", "DL 2000000", "DL 20000000", "DL 50000000", "FIFO 98"]);
    const raised = lines.filter((l) => l.msg.startsWith("raised the boost of pid 10 (victim) (cpu 1) to "));
    expect(raised.length).toBe(5);
    expect(raised[0]!.msg).toContain(
      "SCHED_DEADLINE 200000/1000000000 ns: still waiting 0.05 s into its boost, ran 0.020 ms",
    );
    expect(raised[4]!.msg).toContain(
      "to SCHED_FIFO prio 98 for 50000000 ns every 1000000000 ns: still waiting 0.25 s into its boost at SCHED_DEADLINE's bound",
    );
    // Each raise was recorded before it was applied.
    expect(records).toEqual([20_000n, 200_000n, 2_000_000n, 20_000_000n, 50_000_000n, 0n]);
    // FIFO for 50 ms, its own policy for the rest of the period, FIFO again a period later.
    timers.advance(50);
    expect(sched.tasks.get(10)).toEqual(fifo(10));
    timers.advance(940);
    expect(sched.tasks.get(10)).toEqual(fifo(10));
    timers.advance(20);
    expect(now()).toBe("FIFO 98");
    timers.advance(3000);
    expect(sched.tasks.get(10)).toEqual(fifo(10));
    expect(
      lines.some((l) => l.msg.startsWith("restored pid 10 (victim) (cpu 1) to SCHED_FIFO prio 10 from SCHED_FIFO")),
    ).toBe(true);
  });

  test("a task left starving on the FIFO rung starts its next boost there", () => {
    const { sched, timers, lines, booster, target } = setup();
    booster.boost(target);
    timers.advance(3000);
    expect(sched.tasks.get(10)).toEqual(fifo(10));
    booster.boost(target);
    expect(sched.tasks.get(10)!.policy).toBe(SCHED_FIFO);
    expect(sched.tasks.get(10)!.priority).toBe(98);
    expect(lines.at(-1)!.msg).toContain(
      "using SCHED_FIFO: was SCHED_FIFO prio 10, now SCHED_FIFO prio 98 for 50000000 ns every 1000000000 ns for 3 s",
    );
    expect(lines.at(-1)!.msg).toContain("(its last boost left it starving: starting stronger)");
    timers.advance(50);
    expect(sched.tasks.get(10)).toEqual(fifo(10));
    timers.advance(3000);
    expect(sched.tasks.get(10)).toEqual(fifo(10));
  });

  test("a task that runs and sleeps is not raised, and its next boost starts at the configured runtime", () => {
    const { sched, timers, lines, booster, task, target } = setup();
    booster.boost(target);
    task.state = "S";
    task.cpuNs += 10_000; // it ran, then slept
    timers.advance(3000);
    expect(lines.some((l) => l.msg.startsWith("raised"))).toBe(false);
    task.state = "R";
    booster.boost(target);
    expect(sched.tasks.get(10)!.runtimeNs).toBe(20_000n);
  });

  test("a task still starving as its boost ends starts the next one stronger; once it ran, back to -r", () => {
    const { sched, timers, lines, booster, task, target } = setup();
    booster.boost(target);
    task.cpuNs += 20_000; // its first slice, then nothing
    timers.advance(125); // raised twice: 2 ms
    expect(sched.tasks.get(10)!.runtimeNs).toBe(2_000_000n);
    // The task goes to sleep for the rest of this boost's looks, and is runnable again as it ends.
    task.state = "S";
    task.cpuNs += 10_000;
    timers.advance(2870);
    task.state = "R";
    timers.advance(10);
    expect(sched.tasks.get(10)).toEqual(fifo(10));
    booster.boost(target);
    expect(sched.tasks.get(10)!.runtimeNs).toBe(20_000_000n);
    expect(lines.at(-1)!.msg).toContain("(its last boost left it starving: starting stronger)");
    // This time it ran and slept at the end: the boost after starts from -r again.
    task.state = "S";
    task.cpuNs += 10_000;
    timers.advance(3000);
    task.state = "R";
    booster.boost(target);
    expect(sched.tasks.get(10)!.runtimeNs).toBe(20_000n);
  });

  test("a raise the kernel refuses keeps the boost as it was, says why, and the restore still works", () => {
    const { sched, timers, lines, booster, task, target } = setup();
    booster.boost(target);
    task.cpuNs += 20_000;
    sched.failSet.set(10, 16);
    timers.advance(100);
    sched.failSet.delete(10);
    expect(sched.tasks.get(10)!.runtimeNs).toBe(20_000n);
    expect(
      lines.some(
        (l) => l.level === "warn" && l.msg.startsWith("could not raise the boost of pid 10 (victim) to 200000 ns"),
      ),
    ).toBe(true);
    timers.advance(2900);
    expect(sched.tasks.get(10)).toEqual(fifo(10));
  });

  test("the FIFO emulation is never raised", () => {
    const sched = new FakeSched();
    const timers = new FakeTimers();
    const { log, lines } = recordingLogger();
    const probe = { starttime: () => 777, cpuTimeNs: () => 0, state: () => "R" };
    const booster = testBooster({ method: "fifo", runtimeNs: 20_000n, periodNs: S, durationMs: 3000 }, log, probe, {
      ops: sched,
      timers,
    });
    sched.tasks.set(10, fifo(10));
    booster.boost({ pid: 10, comm: "victim", cpu: 1, waitedNs: 3e9, starttime: 777 });
    timers.advance(3000);
    expect(lines.some((l) => l.msg.startsWith("raised"))).toBe(false);
    expect(sched.tasks.get(10)).toEqual(fifo(10));
  });
});
