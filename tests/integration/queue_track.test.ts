// The queue_track backend in this process, against real run queues: the
// start-up snapshot, what runs on a CPU, and a waiter cleared once it runs.
import { describe, expect, test } from "bun:test";
import { QueueTrackBackend } from "../../src/backends/queue_track";
import { stalldBpfObject } from "../../src/bpf/objects";
import { possibleCpus } from "../../src/kernel/cpus";
import { pidMax } from "../../src/kernel/proc";
import { SCHED_FIFO } from "../../src/kernel/sched_attr";
import { recordingLogger } from "../helpers/fakes";
import { guardRtFile } from "../helpers/guard";
import { kill, type Load, startLoad, VICTIM_CPU, withRtLock } from "../helpers/rt";

guardRtFile();

function backend() {
  const { log, lines } = recordingLogger();
  return {
    lines,
    qt: new QueueTrackBackend({
      object: stalldBpfObject(),
      possibleCpus: possibleCpus().length,
      pidMax: pidMax(),
      log,
    }),
  };
}

describe("queue_track on real run queues", () => {
  test("the start-up snapshot sees a task already starving, with its real wait, and the hog holding the CPU", async () => {
    await withRtLock(async () => {
      let hog: Load | undefined;
      let victim: Load | undefined;
      const { qt, lines } = backend();
      try {
        hog = await startLoad("fifo", 10, 15);
        await Bun.sleep(100);
        victim = await startLoad("fifo", 1, 15);
        const queuedAt = performance.now();
        await Bun.sleep(1500);

        // Started after the victim was queued: only the iterator can know about it.
        qt.start();
        const snap = qt.snapshot();
        const w = snap.waiters.find((x) => x.pid === victim!.pid);
        expect(w).toBeDefined();
        expect(w).toMatchObject({ tgid: victim.pid, cpu: VICTIM_CPU, policy: SCHED_FIFO, prio: 98 });
        // sched_info.last_queued gives the real wait, not "since stalld started".
        const expectedNs = (performance.now() - queuedAt) * 1e6;
        expect(w!.waitedNs).toBeGreaterThan(expectedNs - 400e6);
        expect(w!.waitedNs).toBeLessThanOrEqual(expectedNs + 50e6);

        // RT throttling (on in tests) idles CPU 1 for 50 ms of every second: a snapshot
        // landing there sees the idle task, so look again past that window.
        let r = snap.running[VICTIM_CPU];
        for (let i = 0; i < 3 && r?.pid === 0; i++) {
          await Bun.sleep(60);
          r = qt.snapshot().running[VICTIM_CPU];
        }
        expect(r).toMatchObject({ pid: hog.pid, tgid: hog.pid, policy: SCHED_FIFO, prio: 89 });

        // The wait keeps growing between snapshots, measured from the same stamp.
        await Bun.sleep(300);
        const later = qt.snapshot().waiters.find((x) => x.pid === victim!.pid)!;
        expect(later.waitedNs - w!.waitedNs).toBeGreaterThan(250e6);

        // Once the hog is gone the victim runs: its record is cleared at switch-in. (The
        // DL-server may preempt it again for a fair task: that is a new, short wait.)
        await kill(hog);
        const killedAt = Date.now();
        await Bun.sleep(200);
        const after = qt.snapshot();
        const again = after.waiters.find((x) => x.pid === victim!.pid);
        if (again) expect(again.waitedNs).toBeLessThan((Date.now() - killedAt) * 1e6);
        expect(after.running[VICTIM_CPU]?.pid).not.toBe(hog.pid);
        expect(qt.stats().dropped).toBe(0);
        expect(lines.filter((l) => l.level === "warn" || l.level === "error")).toEqual([]);
      } finally {
        await kill(hog, victim);
        qt.stop();
      }
    });
  }, 60_000);

  test("a task that moves itself onto a starved CPU keeps its stamp across the migration", async () => {
    await withRtLock(async () => {
      let hog: Load | undefined;
      let victim: Load | undefined;
      const { qt } = backend();
      try {
        qt.start();
        hog = await startLoad("fifo", 10, 15);
        await Bun.sleep(100);
        const t0 = performance.now();
        victim = await startLoad("fifo", 1, 15);
        await Bun.sleep(1000);
        const w = qt.snapshot().waiters.find((x) => x.pid === victim!.pid);
        // Moved from CPU 0 onto CPU 1 by its own sched_setaffinity: the migration kept its stamp.
        expect(w).toMatchObject({ cpu: VICTIM_CPU, policy: SCHED_FIFO });
        expect(w!.waitedNs).toBeGreaterThan(800e6);
        expect(w!.waitedNs).toBeLessThan((performance.now() - t0) * 1e6 + 50e6);
      } finally {
        await kill(hog, victim);
        qt.stop();
      }
    });
  }, 60_000);

  test("stop() is idempotent and a second instance can start after it", () => {
    const a = backend().qt;
    a.start();
    a.stop();
    a.stop();
    const b = backend().qt;
    b.start();
    expect(b.snapshot().running.length).toBeGreaterThan(0);
    b.stop();
  });
});
