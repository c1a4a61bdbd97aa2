// The DL-server on this VM (Linux 6.18, fair_server 50 ms per second on each
// CPU): a SCHED_OTHER task behind a FIFO busy loop gets its share from the
// kernel, so stalld never boosts it; the FIFO case is in starvation.test.ts.
import { describe, expect, test } from "bun:test";
import { guardRtFile } from "../helpers/guard";
import { cpuTimeNs, errors, kill, type Load, startDaemon, startLoad, withRtLock } from "../helpers/rt";

guardRtFile();

describe("the DL-server serves fair tasks; stalld leaves them to it", () => {
  test("a SCHED_OTHER victim behind a FIFO hog runs by the DL-server's grace and is never boosted", async () => {
    await withRtLock(async () => {
      const d = startDaemon(["run", "-c", "1", "-t", "1", "-g", "1", "-d", "1", "-v"]);
      let hog: Load | undefined;
      let victim: Load | undefined;
      try {
        await d.waitFor(/monitoring CPUs 1 with backend/, 10_000);
        expect(
          d.lines.some((l) =>
            l.includes(
              "DL-server (BPF rq->fair_server): CPU 1 50/1000 ms active; starving fair tasks there are left to it",
            ),
          ),
        ).toBe(true);
        hog = await startLoad("fifo", 10, 12);
        await Bun.sleep(100);
        victim = await startLoad("other", 0, 12);
        await Bun.sleep(1000);
        const cpu0 = cpuTimeNs(victim.pid);
        await Bun.sleep(4000);
        // ~50 ms a second from the fair_server: well above nothing, well below the whole CPU.
        const got = cpuTimeNs(victim.pid) - cpu0;
        expect(got).toBeGreaterThan(50e6);
        expect(got).toBeLessThan(1000e6);
        expect(d.lines.filter((l) => l.includes(`boosted pid ${victim!.pid} `))).toEqual([]);
        // If its wait ever crossed the 1 s threshold, it was left to the server, said once.
        expect(
          d.lines.filter((l) => l.includes(`rtload-${victim!.pid} starved`) && !l.includes("left to the DL-server")),
        ).toEqual([]);
        expect(d.lines.filter((l) => l.includes(`rtload-${victim!.pid} starved`)).length).toBeLessThanOrEqual(1);
      } finally {
        await kill(hog, victim);
        expect(await d.stop()).toBe(0);
      }
      expect(errors(d)).toEqual([]);
    });
  }, 60_000);
});
