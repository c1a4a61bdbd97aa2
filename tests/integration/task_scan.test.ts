// The task_scan backend in this process, against real run queues: waits read
// from the scheduler's accounting, filtering done in the kernel, and nothing
// attached to any scheduler tracepoint.
import { describe, expect, test } from "bun:test";
import { TaskScanBackend } from "../../src/backends/task_scan";
import { taskScanBpfObject } from "../../src/bpf/objects";
import { SCHED_FIFO } from "../../src/kernel/sched_attr";
import { recordingLogger } from "../helpers/fakes";
import { guardRtFile } from "../helpers/guard";
import { kill, type Load, startLoad, VICTIM_CPU, withRtLock } from "../helpers/rt";

guardRtFile();

const backend = (cpus: number[], reportNs: number) =>
  new TaskScanBackend({ object: taskScanBpfObject(), cpus, reportNs, log: recordingLogger().log });

/** Types of the links to our programs, leaving out links that existed before (`before`, by id). */
function ourLinkTypes(before: number[] = []): { ids: number[]; types: string[] } {
  const progs = JSON.parse(Bun.spawnSync(["bpftool", "-j", "prog", "show"]).stdout.toString() || "[]") as {
    id: number;
    name?: string;
  }[];
  const ids = progs.filter((p) => p.name?.startsWith("stalld_")).map((p) => p.id);
  const links = JSON.parse(Bun.spawnSync(["bpftool", "-j", "link", "show"]).stdout.toString() || "[]") as {
    id: number;
    prog_id: number;
    type: string;
  }[];
  // An earlier daemon's links are released lazily (after an RCU grace period): not ours to count.
  const ours = links.filter((l) => ids.includes(l.prog_id) && !before.includes(l.id));
  return { ids: ours.map((l) => l.id), types: ours.map((l) => l.type) };
}

describe("task_scan on real run queues", () => {
  test("sees a starving task with its real wait and the hog on its CPU; filters by CPU and wait in the kernel", async () => {
    await withRtLock(async () => {
      let hog: Load | undefined;
      let victim: Load | undefined;
      const before = ourLinkTypes().ids;
      const all = backend([VICTIM_CPU], 0);
      const otherCpu = backend([0], 0);
      const longWaitsOnly = backend([VICTIM_CPU], 60e9);
      try {
        hog = await startLoad("fifo", 10, 15);
        await Bun.sleep(100);
        victim = await startLoad("fifo", 1, 15);
        const t0 = performance.now();
        await Bun.sleep(1500);
        for (const b of [all, otherCpu, longWaitsOnly]) b.start();

        const snap = all.snapshot();
        const w = snap.waiters.find((x) => x.pid === victim!.pid);
        expect(w).toMatchObject({ tgid: victim.pid, cpu: VICTIM_CPU, policy: SCHED_FIFO, prio: 98 });
        const elapsedNs = (performance.now() - t0) * 1e6;
        expect(w!.waitedNs).toBeGreaterThan(elapsedNs - 400e6);
        expect(w!.waitedNs).toBeLessThanOrEqual(elapsedNs + 50e6);
        // RT throttling (on in tests) idles CPU 1 for 50 ms of every second: look again
        // past that window if the snapshot landed in it.
        let r = snap.running[VICTIM_CPU];
        for (let i = 0; i < 3 && (r === undefined || r.pid === 0); i++) {
          await Bun.sleep(60);
          r = all.snapshot().running[VICTIM_CPU];
        }
        expect(r).toMatchObject({ pid: hog.pid, policy: SCHED_FIFO, prio: 89 });
        // Only monitored CPUs are reported.
        expect(snap.waiters.every((x) => x.cpu === VICTIM_CPU)).toBe(true);
        expect(snap.running[0]).toBeUndefined();

        const other = otherCpu.snapshot();
        expect(other.waiters.find((x) => x.pid === victim!.pid)).toBeUndefined();
        expect(other.running[VICTIM_CPU]).toBeUndefined();
        expect(longWaitsOnly.snapshot().waiters.find((x) => x.pid === victim!.pid)).toBeUndefined();

        // Nothing of ours on a scheduler tracepoint: only iterator links.
        expect(ourLinkTypes(before).types).toEqual(["iter", "iter", "iter"]);

        // The wait grows between passes; once the hog is gone the victim is no longer reported.
        await Bun.sleep(300);
        expect(all.snapshot().waiters.find((x) => x.pid === victim!.pid)!.waitedNs).toBeGreaterThan(
          w!.waitedNs + 250e6,
        );
        await kill(hog);
        await Bun.sleep(200);
        expect(all.snapshot().waiters.find((x) => x.pid === victim!.pid)).toBeUndefined();
      } finally {
        await kill(hog, victim);
        for (const b of [all, otherCpu, longWaitsOnly]) b.stop();
      }
    });
  }, 60_000);
});
