// Driven the way the original's scripts and QE suites drive it: `stalld -f -v
// -g 1 ...` (no subcommand), wait (bounded) for a line that shows the first
// pass ran, then grep the log for the original's phrases. For each backend.
import { describe, expect, test } from "bun:test";
import { BACKEND_NAMES } from "../../src/backends/registry";
import { guardRtFile } from "../helpers/guard";
import { type Daemon, kill, type Load, startDaemon, startLoad, withRtLock } from "../helpers/rt";

guardRtFile();

/** What the original's functional tests wait for before going on. */
const READY = /checking cpu|waiting tasks|skipping/;

async function scenario(args: string[], body: (d: Daemon, victim: Load) => Promise<void>): Promise<string[]> {
  let d: Daemon | undefined;
  let hog: Load | undefined;
  let victim: Load | undefined;
  await withRtLock(async () => {
    try {
      d = startDaemon(args);
      await d.waitFor(READY, 15_000);
      hog = await startLoad("fifo", 10, 14);
      await Bun.sleep(100);
      victim = await startLoad("fifo", 1, 14);
      await body(d, victim);
    } finally {
      await kill(hog, victim);
      await d?.stop();
      await kill(d);
    }
  });
  return d!.lines;
}

describe("the original's lines, as scripts read them", () => {
  for (const backend of BACKEND_NAMES)
    test(`-b ${backend}: readiness, start-up, detection, boost, restore and shutdown lines`, async () => {
      const lines = await scenario(
        ["-v", "-g", "1", "-t", "2", "-d", "1", "-c", "1", "-a", "0", "-b", backend],
        async (d, victim) => {
          await d.waitFor(new RegExp(`rtload-${victim.pid} starved on CPU 1 for \\d+ seconds`), 10_000);
          await d.waitFor(new RegExp(`boosted pid ${victim.pid} \\(rtload\\) \\(cpu 1\\) using SCHED_DEADLINE`), 5000);
          await d.waitFor(new RegExp(`restored pid ${victim.pid} \\(rtload\\)`), 5000);
        },
      );
      const has = (re: RegExp) => lines.some((l) => re.test(l));
      expect(has(new RegExp(`: using ${backend} backend$`))).toBe(true);
      expect(has(/cpulist: adding cpu 1$/)).toBe(true);
      expect(has(/self-affinity: adding cpu 0$/)).toBe(true);
      expect(has(/\tchecking cpu 1 - rt: \d+ - starving: \d+$/)).toBe(true);
      expect(has(/using SCHED_DEADLINE for boosting/)).toBe(true);
      expect(has(/RT Throttling disabled/)).toBe(true);
      expect(has(/RT Throttling runtime restored to /)).toBe(true);
      expect(lines.at(-1)).toMatch(/ stalld shutting down$/);
      // "boosted" only in lines that report a boost that happened.
      for (const l of lines.filter((x) => x.includes("boosted"))) expect(l).toMatch(/: boosted pid \d+ /);
      expect(has(/error|segfault|crash/i)).toBe(false);
    }, 60_000);

  test("-l: the detection line repeats every pass with the growing wait; 'boosted' never appears", async () => {
    const lines = await scenario(["-v", "-l", "-g", "1", "-t", "2", "-d", "1", "-c", "1"], async (d, victim) => {
      const re = new RegExp(`rtload-${victim.pid} starved on CPU 1 for (\\d+) seconds`);
      await d.waitFor(re, 10_000);
      const first = d.lines.length;
      await d.waitFor(re, 5000, first);
      await Bun.sleep(2500);
    });
    const seconds = lines.flatMap((l) => {
      const m = /rtload-\d+ starved on CPU 1 for (\d+) seconds/.exec(l);
      return m ? [Number(m[1])] : [];
    });
    expect(seconds.length).toBeGreaterThanOrEqual(3);
    expect(seconds.at(-1)!).toBeGreaterThan(seconds[0]!);
    for (let i = 1; i < seconds.length; i++) expect(seconds[i]!).toBeGreaterThanOrEqual(seconds[i - 1]!);
    expect(lines.some((l) => l.includes("boosted"))).toBe(false);
    expect(lines.at(-1)).toMatch(/ stalld shutting down$/);
  }, 60_000);
});
