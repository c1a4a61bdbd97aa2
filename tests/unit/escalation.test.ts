import { describe, expect, test } from "bun:test";
import {
  checkIntervalMs,
  judgeLook,
  kthreadFirstRuntimeNs,
  LOOK_BUDGET_MS_PER_S,
  LookBudget,
  maxRuntimeNs,
  nextLookMs,
  nextRung,
  type Progress,
  replenish,
  rungCoveringDebt,
  rungFor,
  StrengthMemory,
  startLedger,
  strongerRuntimeNs,
} from "../../src/boost/escalation";
import { ownership } from "../../src/boost/policy";
import { selfOwner } from "../../src/boost/state_dir";
import { SysError } from "../../src/ffi/errno";
import { SCHED_DEADLINE, SCHED_FIFO } from "../../src/kernel/sched_attr";
import { FakeSched, FakeTimers, fifo, recordingLogger, testBooster } from "../helpers/fakes";

const S = 1_000_000_000n;
const dl = (runtimeNs: bigint) => ({ sliced: false, runtimeNs });

describe("escalation decisions", () => {
  test("the ladder goes up tenfold from -r to 1/20 of the period, and stops there: every rung is DEADLINE", () => {
    const steps: bigint[] = [20_000n];
    for (let r = strongerRuntimeNs(20_000n, 20_000n, S); r !== null; r = strongerRuntimeNs(r, 20_000n, S))
      steps.push(r);
    expect(steps).toEqual([20_000n, 200_000n, 2_000_000n, 20_000_000n, 50_000_000n]);
    expect(maxRuntimeNs(20_000n, S)).toBe(50_000_000n);
    // A longer period allows more; -r above the bound is the bound.
    expect(maxRuntimeNs(20_000n, 4n * S)).toBe(200_000_000n);
    expect(maxRuntimeNs(1_000_000n, 200_000_000n)).toBe(10_000_000n);
    expect(strongerRuntimeNs(10_000_000n, 1_000_000n, 200_000_000n)).toBeNull();
    // Nothing above the bound: no FIFO rung.
    expect(nextRung(dl(20_000n), 20_000n, S)).toEqual(dl(200_000n));
    expect(nextRung(dl(50_000_000n), 20_000n, S)).toBeNull();
    expect(nextRung({ sliced: true, runtimeNs: 20_000n }, 20_000n, S)).toBeNull();
  });

  test("looks come a twentieth of the period apart, within 25-250 ms", () => {
    expect(checkIntervalMs(S)).toBe(50);
    expect(checkIntervalMs(200_000_000n)).toBe(25);
    expect(checkIntervalMs(4n * S)).toBe(200);
    expect(checkIntervalMs(10n * S)).toBe(250);
  });

  test("looks back off while a boost progresses, up to a fifth of the period, and come back after a change", () => {
    expect(nextLookMs(50, false, S)).toBe(100);
    expect(nextLookMs(100, false, S)).toBe(200);
    expect(nextLookMs(200, false, S)).toBe(200);
    expect(nextLookMs(200, true, S)).toBe(50);
    expect(nextLookMs(25, false, 200_000_000n)).toBe(40);
    expect(nextLookMs(40, false, 200_000_000n)).toBe(40);
  });

  test("the look budget: a tenth of each second, then looks are put off and counted", () => {
    const b = new LookBudget();
    expect(b.allows(0)).toBe(true);
    b.spend(LOOK_BUDGET_MS_PER_S - 1);
    expect(b.allows(500)).toBe(true);
    b.spend(5);
    expect(b.allows(600)).toBe(false);
    expect(b.allows(999)).toBe(false);
    expect(b.shed).toBe(2);
    // A look in a boost's first period, before its first replenishment, may take up to three times as much.
    expect(b.allows(999, true)).toBe(true);
    b.spend(2 * LOOK_BUDGET_MS_PER_S);
    expect(b.allows(999, true)).toBe(false);
    // A new second, a new budget.
    expect(b.allows(1000)).toBe(true);
  });

  test("the ledger grants one runtime at the start and the runtime in effect at each period boundary", () => {
    let l = startLedger(20_000n, 0, S);
    expect(l).toEqual({ grantedNs: 20_000, nextReplenishMs: 1000 });
    l = replenish(l, 999, 20_000n, S);
    expect(l.grantedNs).toBe(20_000);
    l = replenish(l, 1000, 2_000_000n, S);
    expect(l).toEqual({ grantedNs: 2_020_000, nextReplenishMs: 2000 });
    // Two boundaries at once (a late look).
    l = replenish(l, 3500, 1_000_000n, S);
    expect(l).toEqual({ grantedNs: 4_020_000, nextReplenishMs: 4000 });
  });

  test("a look: gone, moved, nothing at all, in debt, or progressing", () => {
    const at = (state: string | null, cpuNs: number | null, cpu: number | null = 1): Progress => ({
      state,
      cpuNs,
      cpu,
      atMs: 100,
    });
    const l = startLedger(20_000n, 0, S);
    expect(judgeLook(at(null, null), 1, 500, l)).toEqual({ kind: "gone" });
    expect(judgeLook(at("R", 600, 0), 1, 500, l)).toEqual({ kind: "moved", cpu: 0 });
    // Not run at all since the boost began: still queued, whatever the state letter says.
    expect(judgeLook(at("R", 500), 1, 500, l)).toEqual({ kind: "ran-nothing" });
    expect(judgeLook(at("S", 500), 1, 500, l)).toEqual({ kind: "ran-nothing" });
    expect(judgeLook(at("D", 500), 1, 500, l)).toEqual({ kind: "ran-nothing" });
    // Ran its runtime and is still runnable: throttled as designed, not "getting nothing".
    expect(judgeLook(at("R", 20_500), 1, 500, l)).toEqual({ kind: "progressing" });
    // Ran past it to the tick (4 ms) and still runnable: a debt of periods.
    expect(judgeLook(at("R", 4_000_500), 1, 500, l)).toEqual({ kind: "in-debt", debtNs: 3_980_000 });
    // Ran past it and went to sleep: it wakes into the same throttle.
    expect(judgeLook(at("S", 4_000_500), 1, 500, l)).toEqual({ kind: "in-debt", debtNs: 3_980_000 });
    expect(judgeLook(at("S", 10_500), 1, 500, l)).toEqual({ kind: "progressing" });
    // Without CPU time, runnable is all there is to go by.
    expect(judgeLook(at("R", null), 1, null, l)).toEqual({ kind: "ran-nothing" });
    expect(judgeLook(at("S", null), 1, null, l)).toEqual({ kind: "progressing" });
    // Unknown CPU: not taken for a move.
    expect(judgeLook(at("R", 20_500, null), 1, 500, l)).toEqual({ kind: "progressing" });
  });

  test("debt is repaid by the smallest rung above it; nothing at all climbs one rung", () => {
    expect(rungCoveringDebt(3_980_000, 20_000n, 20_000n, S)).toEqual(dl(20_000_000n));
    expect(rungCoveringDebt(150_000, 20_000n, 20_000n, S)).toEqual(dl(200_000n));
    // Beyond the bound: the bound (it repays the rest over more periods).
    expect(rungCoveringDebt(80_000_000, 20_000n, 20_000n, S)).toEqual(dl(50_000_000n));
    // Already there: no raise.
    expect(rungCoveringDebt(150_000, 200_000n, 20_000n, S)).toBeNull();
    // Nothing at all: one rung above -r and no further (a stale or blocked task runs nothing under any runtime).
    expect(rungFor({ kind: "ran-nothing" }, dl(20_000n), 20_000n, S)).toEqual(dl(200_000n));
    expect(rungFor({ kind: "ran-nothing" }, dl(200_000n), 20_000n, S)).toBeNull();
    expect(rungFor({ kind: "in-debt", debtNs: 1_000_000 }, dl(20_000n), 20_000n, S)).toEqual(dl(2_000_000n));
    expect(rungFor({ kind: "progressing" }, dl(20_000n), 20_000n, S)).toBeNull();
    expect(rungFor({ kind: "ran-nothing" }, { sliced: true, runtimeNs: 20_000n }, 20_000n, S)).toBeNull();
  });

  test("strength memory: per pid and start time, expires, bounded", () => {
    const m = new StrengthMemory(1000, 2);
    m.remember(10, 1, dl(200_000n), 0);
    expect(m.get(10, 1, 500)).toEqual(dl(200_000n));
    expect(m.get(10, 2, 500)).toBeNull();
    expect(m.get(10, 1, 1501)).toBeNull();
    m.remember(10, 1, dl(1n), 0);
    m.remember(11, 1, dl(2n), 0);
    m.remember(12, 1, dl(3n), 0);
    expect(m.size).toBe(2);
    expect(m.get(12, 1, 0)).toEqual(dl(3n));
    m.forget(12, 1);
    expect(m.get(12, 1, 0)).toBeNull();
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
    expect(ownership(rec, fifo(97))).toBe("changed");
  });
});

/** A booster over a fake task whose state, CPU time and CPU the test sets, on a fake clock. */
function setup(runtimeNs = 20_000n) {
  const sched = new FakeSched();
  const timers = new FakeTimers();
  const { log, lines } = recordingLogger();
  const task = { state: "R" as string | null, cpuNs: 0, cpu: 1, starttime: 777 };
  const records: bigint[] = [];
  const bounded: string[] = [];
  const probe = {
    starttime: () => task.starttime,
    cpuTimeNs: () => task.cpuNs,
    state: () => task.state,
    cpu: () => task.cpu,
  };
  const stateDir = {
    recordBoost: (r: { applied: { runtimeNs: bigint } }) => void records.push(r.applied.runtimeNs),
    forgetBoost: () => {},
  };
  const events = {
    boosted: () => {},
    failed: () => {},
    restored: () => {},
    bounded: (t: { pid: number }, what: string) => void bounded.push(`${t.pid} ${what}`),
  };
  const booster = testBooster({ method: "deadline", runtimeNs, periodNs: S, durationMs: 3000 }, log, probe, {
    ops: sched,
    timers,
    records: stateDir,
    events,
  });
  sched.tasks.set(10, fifo(10));
  const target = { pid: 10, comm: "victim", cpu: 1, waitedNs: 3e9, starttime: 777 };
  const now = () => {
    const a = sched.tasks.get(10)!;
    return a.policy === SCHED_DEADLINE ? `DL ${a.runtimeNs}` : `FIFO ${a.priority}`;
  };
  return { sched, timers, lines, booster, task, target, records, bounded, now };
}

describe("Booster escalation (fake clock)", () => {
  test("an overrun to the tick is repaid before the next replenishment by the rung above the debt; all DEADLINE", () => {
    const { sched, timers, lines, booster, task, target, records, now } = setup();
    booster.boost(target);
    expect(now()).toBe("DL 20000");
    task.cpuNs += 4_000_000; // ran to the tick: 3.98 ms past its 20 us
    timers.advance(50);
    expect(now()).toBe("DL 20000000");
    const raised = lines.filter((l) => l.msg.startsWith("raised the boost of pid 10 (victim) (cpu 1) to "));
    expect(raised).toHaveLength(1);
    expect(raised[0]!.msg).toContain(
      "to SCHED_DEADLINE 20000000/1000000000 ns: it overran its runtime by 3.980 ms, a debt the kernel would make " +
        "it wait periods for (0.05 s into its boost, ran 4.000 ms)",
    );
    // Still throttled until the replenishment: no more raises; after it, the debt is paid.
    timers.advance(1500);
    task.cpuNs += 16_020_000;
    timers.advance(1000);
    expect(lines.filter((l) => l.msg.startsWith("raised"))).toHaveLength(1);
    expect(records).toEqual([20_000n, 20_000_000n]);
    expect(sched.sets.some((x) => x.attr.policy === SCHED_FIFO && x.attr.priority !== 10)).toBe(false);
    timers.advance(500);
    expect(sched.tasks.get(10)).toEqual(fifo(10));
    expect(
      lines.some((l) => l.msg.startsWith("restored pid 10 (victim) (cpu 1) to SCHED_FIFO prio 10 from SCHED_DEADLINE")),
    ).toBe(true);
  });

  test("a kernel thread's boost starts at an eighth of the ladder's top; a user task's at -r", () => {
    const { sched, booster, target, now } = setup();
    expect(kthreadFirstRuntimeNs(20_000n, S)).toBe(6_250_000n);
    expect(kthreadFirstRuntimeNs(10_000_000n, S)).toBe(10_000_000n);
    booster.boost({ ...target, kthread: true });
    expect(now()).toBe("DL 6250000");
    sched.tasks.set(11, fifo(10));
    booster.boost({ ...target, pid: 11 });
    expect(sched.tasks.get(11)!.runtimeNs).toBe(20_000n);
    expect(booster.share.usedNs(1)).toBe(6_270_000n);
  });

  test("a task that ran its runtime and is still runnable is not raised: the boost works as bounded", () => {
    const { timers, lines, booster, task, target, now } = setup();
    booster.boost(target);
    task.cpuNs += 20_000;
    timers.advance(999);
    task.cpuNs += 20_000; // its next period's runtime
    timers.advance(1000);
    task.cpuNs += 20_000;
    timers.advance(900);
    expect(now()).toBe("DL 20000");
    expect(lines.some((l) => l.msg.startsWith("raised"))).toBe(false);
  });

  test("a queued task that runs nothing is set again (cap, saved, boost), never raised; its next boost rests, starts a rung up", () => {
    const { sched, timers, lines, booster, task, target, now } = setup();
    booster.boost(target);
    const setsAtBoost = sched.sets.length;
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      timers.advance(50);
      seen.push(now());
    }
    // Each look: the cap's runtime (a near 0-lag time), the saved attributes (leaving DEADLINE while
    // queued clears a stale throttle), the boost again; no rung is taken from the CPU's bound.
    expect(seen).toEqual(["DL 20000", "DL 20000", "DL 20000", "DL 20000"]);
    const look = sched.sets.slice(setsAtBoost, setsAtBoost + 3).map((x) => x.attr);
    expect(look.map((a) => (a.policy === SCHED_DEADLINE ? `DL ${a.runtimeNs}` : `FIFO ${a.priority}`))).toEqual([
      "DL 50000000",
      "FIFO 10",
      "DL 20000",
    ]);
    // Three re-arms, then no more: a deadline pushed far ahead by an earlier debt is not stale.
    expect(sched.sets.length - setsAtBoost).toBe(9);
    expect(lines.some((l) => l.msg.startsWith("raised"))).toBe(false);
    // Said once per boost.
    const said = lines.filter((l) => l.msg.startsWith("set the boost of pid 10 (victim) (cpu 1) again"));
    expect(said).toHaveLength(1);
    expect(said[0]!.msg).toContain("it has run nothing while queued (0.05 s into its boost)");
    // It runs after a re-arm: no more of them, and the ledger counts the new period's runtime.
    task.cpuNs += 30_000;
    const before = sched.sets.length;
    timers.advance(50);
    expect(sched.sets.length).toBe(before);
    expect(lines.some((l) => l.msg.startsWith("raised"))).toBe(false);
    task.cpuNs -= 30_000; // (the test's bookkeeping: as if it never ran, for what follows)
    timers.advance(3000);
    expect(sched.tasks.get(10)).toEqual(fifo(10));
    expect(
      lines.some((l) => l.level === "warn" && l.msg.includes("got no CPU time from its 3.00 s SCHED_DEADLINE boost")),
    ).toBe(true);
    // It rests a boost's length: another boost at once would hold the CPU's share for nothing.
    expect(booster.boost(target)).toBe("resting");
    expect(now()).toBe("FIFO 10");
    timers.advance(3000);
    booster.boost(target);
    expect(now()).toBe("DL 200000");
    expect(lines.at(-1)!.msg).toContain("(its last boost gave it nothing: starting stronger)");
    task.cpuNs += 30_000;
    task.state = "S";
    timers.advance(3000);
    task.state = "R";
    booster.boost(target);
    expect(now()).toBe("DL 20000");
  });

  test("a re-arm waits until the other boosts on the CPU could have run, and stays within the CPU's bound", () => {
    const sched = new FakeSched();
    const timers = new FakeTimers();
    const { log, lines } = recordingLogger();
    const cpu = new Map<number, number>([
      [10, 0],
      [11, 0],
    ]);
    const probe = {
      starttime: () => 777,
      cpuTimeNs: (pid: number) => cpu.get(pid) ?? null,
      state: () => "R",
      cpu: () => 1,
    };
    const booster = testBooster({ method: "deadline", runtimeNs: 20_000n, periodNs: S, durationMs: 3000 }, log, probe, {
      ops: sched,
      timers,
    });
    sched.tasks.set(10, fifo(10));
    sched.tasks.set(11, fifo(10));
    booster.boost({ pid: 10, comm: "first", cpu: 1, waitedNs: 3e9, starttime: 777 });
    cpu.set(10, 30_000_000); // 30 ms of debt: raised to the top of the ladder, within the bound
    timers.advance(50);
    expect(sched.tasks.get(10)!.runtimeNs).toBe(49_980_000n);
    booster.boost({ pid: 11, comm: "second", cpu: 1, waitedNs: 3e9, starttime: 777 });
    const before = sched.sets.length;
    // Under EDF the second may wait behind the first's 49.98 ms: no re-arm 50 ms in.
    timers.advance(50);
    expect(sched.sets.filter((x, i) => i >= before && x.pid === 11)).toHaveLength(0);
    timers.advance(50);
    const rearm = sched.sets.filter((x, i) => i >= before && x.pid === 11).map((x) => x.attr);
    expect(rearm.map((a) => (a.policy === SCHED_DEADLINE ? `DL ${a.runtimeNs}` : `FIFO ${a.priority}`))).toEqual([
      "DL 20000",
      "FIFO 10",
      "DL 20000",
    ]);
    expect(lines.some((l) => l.msg.startsWith("set the boost of pid 11 (second) (cpu 1) again"))).toBe(true);
    // Never more than the bound's 50 ms together, the re-arm's first step included.
    for (const x of sched.sets) expect(x.attr.runtimeNs).toBeLessThanOrEqual(50_000_000n);
  });

  test("a re-arm the kernel refuses: still DEADLINE, the boost goes on; on its saved attributes, the boost ends", () => {
    const { sched, timers, lines, booster, target, now } = setup();
    booster.boost(target);
    // Every write refused: the boost stays as it was and ends on its timer.
    sched.failSet.set(10, 16);
    timers.advance(50);
    sched.failSet.delete(10);
    expect(now()).toBe("DL 20000");
    expect(booster.isBoosted(10)).toBe(true);
    // The boost refused after the saved attributes went back: it ends there, said.
    const set = sched.set.bind(sched);
    let n = 0;
    sched.set = (pid, attr) => {
      if (++n === 3) throw new SysError("sched_setattr", 16);
      set(pid, attr);
    };
    timers.advance(50);
    expect(now()).toBe("FIFO 10");
    expect(booster.isBoosted(10)).toBe(false);
    expect(
      lines.some(
        (l) =>
          l.level === "warn" &&
          l.msg.startsWith("could not set the boost of pid 10 (victim) again") &&
          l.msg.endsWith("its boost ends here, on SCHED_FIFO prio 10"),
      ),
    ).toBe(true);
    timers.advance(3000);
    expect(now()).toBe("FIFO 10");
  });

  test("a raise the kernel refuses keeps the boost as it was, says why, and the restore still works", () => {
    const { sched, timers, lines, booster, task, target } = setup();
    booster.boost(target);
    task.cpuNs += 100_000; // 80 us of debt: the rung above it is 200 us
    sched.failSet.set(10, 16);
    timers.advance(50);
    sched.failSet.delete(10);
    expect(sched.tasks.get(10)!.runtimeNs).toBe(20_000n);
    expect(
      lines.some(
        (l) => l.level === "warn" && l.msg.startsWith("could not raise the boost of pid 10 (victim) to 200000 ns"),
      ),
    ).toBe(true);
    timers.advance(2950);
    expect(sched.tasks.get(10)).toEqual(fifo(10));
  });

  test("a task found on another CPU ends its boost at the next look, its saved attributes back", () => {
    const { sched, timers, lines, booster, task, target } = setup();
    booster.boost(target);
    task.cpuNs += 10_000;
    task.cpu = 0; // moved itself onto stalld's CPU
    timers.advance(50);
    expect(sched.tasks.get(10)).toEqual(fifo(10));
    expect(booster.isBoosted(10)).toBe(false);
    expect(lines.some((l) => l.msg.includes("(moved to CPU 0 during its boost)"))).toBe(true);
    expect(booster.share.usedNs(1)).toBe(0n);
  });

  test("a task that changed its own policy during its boost still gets its saved attributes back", () => {
    const { sched, timers, lines, booster, task, target } = setup();
    booster.boost(target);
    task.cpuNs += 10_000;
    // DEADLINE to SCHED_OTHER, as an unprivileged task may (keeping reset-on-fork).
    sched.tasks.set(10, { ...fifo(0, 1n), policy: 0 });
    timers.advance(3000);
    expect(sched.tasks.get(10)).toEqual(fifo(10));
    expect(
      lines.some(
        (l) =>
          l.level === "warn" &&
          l.msg.startsWith("pid 10 (victim) was changed to SCHED_OTHER") &&
          l.msg.includes("all the same"),
      ),
    ).toBe(true);
  });

  test("the leaving runtime: the rung above a queued task's debt, the least for a sleeper, else unchanged", () => {
    const { sched, timers, booster, task, target } = setup();
    const tail = (from: number) =>
      sched.sets.slice(from).map((x) => `${x.attr.policy} ${x.attr.runtimeNs} ${x.attr.periodNs}`);
    // Queued, in debt beyond its runtime as it ends (it ran far more than it was granted).
    booster.boost(target);
    task.cpuNs += 10_000;
    timers.advance(2990);
    task.cpuNs += 200_000_000;
    let from = sched.sets.length;
    timers.advance(10);
    expect(tail(from)).toEqual([`${SCHED_DEADLINE} 50000000 ${S}`, `${SCHED_FIFO} 0 0`]);
    // Queued, within what it was granted: nothing but the restore.
    task.cpuNs += 10_000;
    booster.boost(target);
    task.cpuNs += 10_000;
    from = sched.sets.length;
    timers.advance(3000);
    expect(tail(from)).toEqual([`${SCHED_FIFO} 0 0`]);
    // Asleep as it ends.
    booster.boost(target);
    task.state = "S";
    task.cpuNs += 5_000;
    from = sched.sets.length;
    timers.advance(3000);
    expect(tail(from)).toEqual([`${SCHED_DEADLINE} 1024 ${S}`, `${SCHED_FIFO} 0 0`]);
  });

  test("a raise never writes over a policy the task changed itself: the boost ends, saved attributes back", () => {
    const { sched, timers, lines, booster, target } = setup();
    booster.boost(target);
    // It ran nothing (a raise is due at the next look), then left DEADLINE for SCHED_OTHER.
    sched.tasks.set(10, { ...fifo(0, 1n), policy: 0 });
    timers.advance(50);
    expect(booster.isBoosted(10)).toBe(false);
    expect(sched.tasks.get(10)).toEqual(fifo(10));
    expect(sched.sets.filter((x) => x.attr.policy === SCHED_DEADLINE)).toHaveLength(1);
    expect(
      lines.some((l) => l.level === "warn" && l.msg.startsWith("pid 10 (victim) was changed to SCHED_OTHER")),
    ).toBe(true);
  });

  test("a pid reused by another task mid-boost gets no raise and no restore written to it", () => {
    const { sched, timers, booster, task, target } = setup();
    booster.boost(target);
    const writes = sched.sets.length;
    task.starttime = 999; // the task exited; another has its pid
    sched.tasks.set(10, fifo(1));
    timers.advance(3000);
    expect(sched.sets.length).toBe(writes);
    expect(sched.tasks.get(10)).toEqual(fifo(1));
  });
});

describe("the per-CPU bound", () => {
  test("boosts on a CPU hold at most 5 % of it together; beyond it a task waits, counted; other CPUs are apart", () => {
    const { sched, timers, booster, target, bounded } = setup(20_000_000n);
    for (const pid of [11, 12, 13]) sched.tasks.set(pid, fifo(10));
    const probe = (pid: number, cpu = 1) => ({ ...target, pid, cpu });
    expect(booster.share.capNs).toBe(50_000_000n);
    expect(booster.boost(probe(10))).toBe("boosted");
    expect(booster.boost(probe(11))).toBe("boosted");
    expect(booster.boost(probe(12))).toBe("bounded");
    expect(bounded).toEqual(["12 bounded".replace("bounded", "boost")]);
    expect(booster.boost(probe(13, 0))).toBe("boosted");
    expect(booster.share.usedNs(1)).toBe(40_000_000n);
    // As boosts end, room comes back.
    timers.advance(3000);
    expect(booster.share.usedNs(1)).toBe(0n);
    expect(booster.boost(probe(12))).toBe("boosted");
  });

  test("a raise is capped at the room left; a debt no raise repays before the boost ends ends the boost now", () => {
    const { sched, timers, lines, booster, task, target, bounded, now } = setup();
    sched.tasks.set(11, fifo(10));
    booster.boost(target);
    booster.boost({ ...target, pid: 11 });
    // Both overran by 40 ms: each wants the top of the ladder; the CPU's 50 ms are shared.
    task.cpuNs += 40_000_000;
    timers.advance(50);
    // The first to look climbs into what is left but room for one more boost.
    expect(now()).toBe("DL 49960000");
    expect(booster.share.usedNs(1)).toBe(49_960_000n);
    // The second could repay 40 ms at 20 us in 2000 periods: it would be throttled far past its restore,
    // and its next boosts would run nothing. It ends now, counted, its saved attributes back.
    expect(sched.tasks.get(11)).toEqual(fifo(10));
    expect(booster.isBoosted(11)).toBe(false);
    expect(bounded.filter((b) => b === "11 raise")).toHaveLength(1);
    // Its leaving runtime, set just before the restore, stays within what the bound had left (40 us).
    expect(sched.sets.filter((x) => x.pid === 11).map((x) => x.attr.runtimeNs)).toEqual([20_000n, 40_000n, 0n]);
    expect(
      lines.some(
        (l) =>
          l.msg.startsWith("restored pid 11 (victim) (cpu 1) to SCHED_FIFO prio 10") &&
          l.msg.includes("(in debt by 39.980 ms, more than the CPU's bound lets its boost repay before its end"),
      ),
    ).toBe(true);
    timers.advance(3000);
    expect(sched.tasks.get(10)).toEqual(fifo(10));
  });

  test("a raise the bound refuses, for a debt repaid within the boost anyway, is said once per CPU", () => {
    const { sched, timers, lines, booster, task, target, bounded, now } = setup();
    booster.boost(target);
    task.cpuNs += 40_000_000;
    timers.advance(50);
    expect(now()).toBe("DL 49980000");
    sched.tasks.set(11, fifo(10));
    expect(booster.boost({ ...target, pid: 11 })).toBe("boosted");
    // 30 us of debt at 20 us: two periods, within its boost; the 200 us it wants has no room.
    task.cpuNs += 50_000;
    for (let i = 0; i < 4; i++) timers.advance(50);
    expect(sched.tasks.get(11)!.runtimeNs).toBe(20_000n);
    expect(booster.isBoosted(11)).toBe(true);
    expect(bounded.filter((b) => b.endsWith("raise")).length).toBeGreaterThan(1);
    expect(lines.filter((l) => l.msg.startsWith("not raising the boost of pid"))).toHaveLength(1);
  });

  test("tasks the bound left waiting at the last pass keep their room: a raise does not take it", () => {
    const { sched, timers, booster, task, target, now } = setup();
    booster.noteWaiting(new Map([[1, 4]]));
    booster.boost(target);
    task.cpuNs += 40_000_000;
    timers.advance(50);
    // 50 ms less five boosts of -r: four waiting, one more.
    expect(now()).toBe("DL 49900000");
    expect(sched.tasks.size).toBe(1);
  });

  test("a flood of 2000 starving tasks on one CPU: the bound holds, the rest wait, and looks stay cheap", () => {
    // A one-tick runtime (4 ms), as where HRTICK_DL cannot be turned on.
    const { sched, timers, booster, target, bounded } = setup(4_000_000n);
    let boosted = 0;
    for (let pid = 100; pid < 2100; pid++) {
      sched.tasks.set(pid, fifo(10));
      if (booster.boost({ ...target, pid }) === "boosted") boosted++;
    }
    expect(boosted).toBe(12);
    expect(bounded.length).toBe(1988);
    expect(booster.share.usedNs(1)).toBe(48_000_000n);
    timers.advance(3000);
    expect(booster.count).toBe(0);
    expect(booster.share.usedNs(1)).toBe(0n);
  });
});

describe("looks give way to restores", () => {
  test("each look costing 5 ms: 20 boosts take about a tenth of each second in looks, and every restore is on time", () => {
    const sched = new FakeSched();
    const timers = new FakeTimers();
    const { log, lines } = recordingLogger();
    let reads = 0;
    let cpuNs = 0;
    const probe = {
      starttime: () => 777,
      // A slow machine: each look's read of the task's CPU time costs 5 ms, and it progresses (1 us a read).
      cpuTimeNs: () => {
        reads++;
        timers.now += 5;
        return (cpuNs += 1000);
      },
      state: () => "R",
      cpu: () => 1,
    };
    const booster = testBooster({ method: "deadline", runtimeNs: 20_000n, periodNs: S, durationMs: 3000 }, log, probe, {
      ops: sched,
      timers,
    });
    for (let pid = 100; pid < 120; pid++) {
      sched.tasks.set(pid, fifo(10));
      expect(booster.boost({ pid, comm: "victim", cpu: 1, waitedNs: 3e9, starttime: 777 })).toBe("boosted");
    }
    const atStart = reads;
    timers.advance(1000);
    // Without the budget: 20 boosts x 7 looks in their first second (50, 100, 200, 200 ... ms apart) x 5 ms.
    const lookMs = (reads - atStart) * 5;
    // Their first period: up to three times the budget.
    expect(lookMs).toBeLessThanOrEqual(LOOK_BUDGET_MS_PER_S * 3 + 10);
    expect(booster.looks.shed).toBeGreaterThan(0);
    // After it, a tenth.
    const later = reads;
    timers.advance(1000);
    expect((reads - later) * 5).toBeLessThanOrEqual(LOOK_BUDGET_MS_PER_S + 10);
    timers.advance(1050);
    expect(booster.count).toBe(0);
    const restored = lines.filter((l) => l.msg.startsWith("restored pid"));
    expect(restored).toHaveLength(20);
    for (const l of restored) expect(l.msg).toMatch(/after 3\.0\d s \(boost ended\)/);
  });
});

describe("the FIFO emulation (-F)", () => {
  function fifoSetup() {
    const sched = new FakeSched();
    const timers = new FakeTimers();
    const { log, lines } = recordingLogger();
    const task = { cpu: 1 };
    const probe = { starttime: () => 777, cpuTimeNs: () => 0, state: () => "R", cpu: () => task.cpu };
    const booster = testBooster({ method: "fifo", runtimeNs: 20_000_000n, periodNs: S, durationMs: 3000 }, log, probe, {
      ops: sched,
      timers,
    });
    sched.tasks.set(10, fifo(10));
    booster.boost({ pid: 10, comm: "victim", cpu: 1, waitedNs: 3e9, starttime: 777 });
    return { sched, timers, lines, booster, task };
  }

  test("is never raised", () => {
    const { sched, timers, lines } = fifoSetup();
    timers.advance(3000);
    expect(lines.some((l) => l.msg.startsWith("raised"))).toBe(false);
    expect(sched.tasks.get(10)).toEqual(fifo(10));
  });

  test("a task that lowers itself during a slice (FIFO 98 to 97) is not written over: its boost ends, saved back", () => {
    const { sched, timers, lines, booster } = fifoSetup();
    expect(sched.tasks.get(10)!.priority).toBe(98);
    sched.tasks.set(10, { ...fifo(97), flags: 1n });
    timers.advance(20);
    expect(booster.isBoosted(10)).toBe(false);
    expect(sched.tasks.get(10)).toEqual(fifo(10));
    expect(sched.sets.filter((x) => x.attr.priority === 98)).toHaveLength(1);
    expect(lines.some((l) => l.msg.includes("its policy changed to SCHED_FIFO prio 97 during its boost"))).toBe(true);
  });

  test("a task that moved to another CPU ends its boost at the next switch", () => {
    const { sched, timers, booster, task } = fifoSetup();
    task.cpu = 0;
    timers.advance(20);
    expect(booster.isBoosted(10)).toBe(false);
    expect(sched.tasks.get(10)).toEqual(fifo(10));
  });
});
