// SIGKILL mid-boost, then a restart: the new stalld finds the dead one's
// records, puts the victim's policy back and restores RT throttling to the
// value from before the first one ran. Nothing stays boosted.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SCHED_DEADLINE, SCHED_FIFO } from "../../src/kernel/sched_attr";
import { guardRtFile } from "../helpers/guard";
import { type Daemon, kill, type Load, policyOf, rtRuntime, startDaemon, startLoad, withRtLock } from "../helpers/rt";

guardRtFile();
const rtAtStart = rtRuntime();
const dir = mkdtempSync(join(tmpdir(), "stalld-state-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

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
        expect(readdirSync(dir).sort()).toEqual([
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
        expect(restored).toContain(`boosted by stalld pid ${d1.proc.pid}, which died during the boost`);
        expect(policyOf(victim.pid)).toEqual({ policy: SCHED_FIFO, rtPriority: 1 });
        await d2.waitFor(
          new RegExp(
            `RT throttling was left off by stalld pid ${d1.proc.pid}, which died; sched_rt_runtime_us will be restored to ${rtAtStart} at exit`,
          ),
          5000,
        );
        await d2.waitFor(/monitoring CPUs 1/, 5000);
        expect(readdirSync(dir)).toEqual(["rt_runtime.json"]);

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
