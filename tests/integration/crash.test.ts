// SIGKILL mid-boost, then a restart: the new stalld finds the dead one's
// records, puts the victim's policy back and restores RT throttling to the
// value from before the first one ran. Nothing stays boosted.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureMounted, isMounted, unmount } from "../../src/kernel/mounts";
import { SCHED_DEADLINE, SCHED_FIFO } from "../../src/kernel/sched_attr";
import { readFeature } from "../../src/kernel/sched_features";
import { guardRtFile } from "../helpers/guard";
import { type Daemon, kill, type Load, policyOf, rtRuntime, startDaemon, startLoad, withRtLock } from "../helpers/rt";

guardRtFile();
const rtAtStart = rtRuntime();
const dir = mkdtempSync(join(tmpdir(), "stalld-state-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
/** Boost and throttling records (a debugfs mount's record comes and goes with the mount). */
const records = () =>
  readdirSync(dir)
    .filter((n) => !n.startsWith("setting-"))
    .sort();

describe("crash safety", () => {
  test("SIGKILL during a boost, then a restart: the victim gets its policy back, throttling its old value, no record left", async () => {
    await withRtLock(async () => {
      let d1: Daemon | undefined;
      let d2: Daemon | undefined;
      let hog: Load | undefined;
      let victim: Load | undefined;
      try {
        d1 = startDaemon(["run", "-c", "1", "-t", "3", "-d", "3", "-g", "1", "--state-dir", dir]);
        await d1.waitFor(/monitoring CPUs 1 with backend/, 10_000);
        hog = await startLoad("fifo", 10, 25);
        await Bun.sleep(100);
        victim = await startLoad("fifo", 1, 25);
        await d1.waitFor(new RegExp(`boosted pid ${victim.pid} `), 8000);
        expect(records()).toEqual([
          expect.stringMatching(new RegExp(`^boost-${victim.pid}-\\d+\\.json$`)),
          "rt_runtime.json",
        ]);

        d1.proc.kill("SIGKILL");
        await d1.proc.exited;
        // What a dead stalld leaves without crash safety: a task on SCHED_DEADLINE for good, throttling off.
        expect(policyOf(victim.pid).policy).toBe(SCHED_DEADLINE);
        expect(rtRuntime()).toBe(-1);

        d2 = startDaemon(["run", "-c", "1", "-t", "20", "--state-dir", dir]);
        const restored = await d2.waitFor(
          new RegExp(
            `restored pid ${victim.pid} \\(rtload\\) \\(cpu 1\\) to SCHED_FIFO prio 1 from SCHED_(DEADLINE|FIFO)`,
          ),
          10_000,
        );
        expect(restored).toContain(`left in a boost by stalld pid ${d1.proc.pid}, which died during the boost`);
        expect(policyOf(victim.pid)).toEqual({ policy: SCHED_FIFO, rtPriority: 1 });
        await d2.waitFor(
          new RegExp(
            `RT throttling was left off by stalld pid ${d1.proc.pid}, which died; sched_rt_runtime_us will be restored to ${rtAtStart} at exit`,
          ),
          5000,
        );
        await d2.waitFor(/monitoring CPUs 1/, 5000);
        expect(records()).toEqual(["rt_runtime.json"]);

        await kill(hog, victim);
        expect(await d2.stop()).toBe(0);
        expect(rtRuntime()).toBe(rtAtStart);
        expect(readdirSync(dir)).toEqual([]);
      } finally {
        await kill(hog, victim, d1);
        await d2?.stop();
        if (rtRuntime() !== rtAtStart) writeFileSync("/proc/sys/kernel/sched_rt_runtime_us", `${rtAtStart}\n`);
      }
    });
  }, 90_000);
});

describe("chaos: SIGKILL at any moment of a real boost, then a restart", () => {
  test("30 cycles: after each, nothing boosted, RT throttling, debugfs and HRTICK_DL as found, no record left", async () => {
    await withRtLock(async () => {
      const debugfsAtStart = isMounted("debugfs");
      // Unmounted, so each stalld mounts it (recorded first) and a killed one leaves it to the next.
      if (debugfsAtStart) unmount("debugfs");
      const hrtick = hrtickNow();
      const seen = { before: 0, deadline: 0, fifo: 0, after: 0 };
      try {
        for (let i = 0; i < 30; i++) {
          const state = mkdtempSync(join(tmpdir(), "stalld-chaos-"));
          let d1: Daemon | undefined;
          let d2: Daemon | undefined;
          let hog: Load | undefined;
          let victim: Load | undefined;
          try {
            d1 = startDaemon(["run", "-c", "1", "-t", "2", "-d", "2", "-g", "1", "--state-dir", state]);
            await d1.waitFor(/monitoring CPUs 1 with backend/, 10_000);
            hog = await startLoad("fifo", 10, 9);
            await Bun.sleep(50);
            victim = await startLoad("fifo", 1, 9);
            // Spread over the boost's life: before it (detection at ~2 s), during it, after its restore (~4 s).
            await Bun.sleep(200 + (i / 29) * 4800 + Math.random() * 150);
            d1.proc.kill("SIGKILL");
            await d1.proc.exited;
            const killed = policyOf(victim.pid);
            const boosted = d1.lines.some((l) => l.includes(`boosted pid ${victim!.pid} `));
            const restoredBefore = d1.lines.some((l) => l.includes(`restored pid ${victim!.pid} `));
            if (killed.policy === SCHED_DEADLINE) seen.deadline++;
            else if (killed.rtPriority === 98) seen.fifo++;
            else if (boosted && restoredBefore) seen.after++;
            else seen.before++;

            d2 = startDaemon(["run", "-c", "1", "-t", "30", "--state-dir", state]);
            await d2.waitFor(/monitoring CPUs 1 with backend/, 10_000);
            // The dead one's boost put back: the victim is FIFO 1 again, whatever moment it was killed at.
            expect(policyOf(victim.pid)).toEqual({ policy: SCHED_FIFO, rtPriority: 1 });
            await kill(hog, victim);
            expect(await d2.stop()).toBe(0);
            expect(rtRuntime()).toBe(rtAtStart);
            expect(isMounted("debugfs")).toBe(false);
            expect(readdirSync(state)).toEqual([]);
          } finally {
            await kill(hog, victim, d1);
            await d2?.stop();
            rmSync(state, { recursive: true, force: true });
            if (rtRuntime() !== rtAtStart) writeFileSync("/proc/sys/kernel/sched_rt_runtime_us", `${rtAtStart}\n`);
          }
        }
        expect(hrtickNow()).toBe(hrtick);
        console.log(`chaos: killed ${JSON.stringify(seen)}`);
        // Every kind of moment came up.
        expect(seen.before).toBeGreaterThan(0);
        expect(seen.deadline + seen.fifo).toBeGreaterThan(0);
        expect(seen.after).toBeGreaterThan(0);
      } finally {
        if (isMounted("debugfs") && !debugfsAtStart) unmount("debugfs");
        if (!isMounted("debugfs") && debugfsAtStart) ensureMounted("debugfs");
      }
    });
  }, 300_000);
});

/** HRTICK_DL as sched/debug says (debugfs mounted for that read only). */
function hrtickNow(): string {
  const here = ensureMounted("debugfs");
  try {
    return readFeature("HRTICK_DL").state;
  } finally {
    if (here) unmount("debugfs");
  }
}
