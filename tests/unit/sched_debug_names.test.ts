// Task names are hostile input: the kernel prints them raw in sched/debug, and
// prctl(PR_SET_NAME) stores any byte but NUL. The reproductions below once made
// the daemon boost kthreadd, hide every later row of a CPU, or empty CPU 0;
// the property tests feed the parser every byte 1-255 in names.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { SchedDebugBackend, type TaskFacts } from "../../src/backends/sched_debug";
import { parseSchedDebug } from "../../src/kernel/sched_debug";
import { recordingLogger } from "../helpers/fakes";
import { bytes, type PrintedTask, printSchedDebug, type RowStyle } from "../helpers/sched_debug_printer";

/** The forged names, each padded to 15 bytes as an attacker would. */
const FORGED = [
  "\n>Rx 1 1.1 2 0",
  "\n Rk 2 1.1 2 0",
  "\n\n",
  "\n\ncpu#0,",
  "\n\ncpu#1,",
  "\r\x1b[2J\x07",
  "\x85\u2028",
  " R victim 3000",
];

const HOG: PrintedTask = { comm: bytes("hog"), pid: 2001, switches: 9, prio: 49, state: "R", current: true };
const VICTIM: PrintedTask = { comm: bytes("victim"), pid: 3000, switches: 5, prio: 98, state: "R" };

/** CPU 0 idle with a forger sleeping there; CPU 1: the hog runs, forgers sleep, the victim waits. */
function forgedFile(style: RowStyle): Buffer {
  const forgers = (cpu: number) =>
    FORGED.map((name, i) => ({
      comm: Buffer.from(name, "utf8").subarray(0, 15),
      pid: 5000 + cpu * 100 + i,
      switches: 3,
      prio: 120,
      state: "S",
    }));
  return printSchedDebug(
    [
      { cpu: 0, currPid: 0, tasks: forgers(0) },
      { cpu: 1, currPid: 2001, tasks: [HOG, ...forgers(1), VICTIM] },
    ],
    style,
  );
}

describe("forged task names", () => {
  for (const style of ["state3", "state2", "legacy"] as RowStyle[]) {
    test(`${style}: every row is read exactly; no forged row, no hidden row, no section emptied`, () => {
      const sd = parseSchedDebug(forgedFile(style));
      expect(sd.problems).toEqual([]);
      expect([...sd.cpus.keys()]).toEqual([0, 1]);
      const cpu1 = sd.cpus.get(1)!;
      expect(cpu1).toMatchObject({ complete: true, malformed: null, currPid: 2001 });
      expect(cpu1.tasks.map((t) => t.pid)).toEqual([2001, ...FORGED.map((_, i) => 5100 + i), 3000]);
      expect(sd.cpus.get(0)!.tasks.map((t) => t.pid)).toEqual(FORGED.map((_, i) => 5000 + i));
      // The name columns come back byte for byte (a leading space is the padding's: /proc decides).
      expect(cpu1.tasks.slice(1, -1).map((t) => t.commField)).toEqual(
        FORGED.map((n) => Buffer.from(n, "utf8").subarray(0, 15).toString("latin1").padStart(15, " ")),
      );
      // A pass (runnable rows only) sees the hog and the victim, nothing else.
      const pass = parseSchedDebug(forgedFile(style), { cpus: new Set([1]), runnableOnly: true });
      expect(pass.cpus.get(1)!.tasks.map((t) => [t.pid, t.current])).toEqual(
        style === "legacy"
          ? [[2001, true], ...FORGED.map((_, i) => [5100 + i, false]), [3000, false]]
          : [
              [2001, true],
              [3000, false],
            ],
      );
    });
  }

  test("the daemon's backend: only the victim waits and only the hog runs, whatever /proc says of pids 1 and 2", () => {
    const facts: Record<number, TaskFacts> = {
      1: { rawComm: "systemd", kthread: false, tgid: 1, policy: 0, state: "S", cpu: 1, switches: 2 },
      2: { rawComm: "kthreadd", kthread: true, tgid: 2, policy: 0, state: "S", cpu: 1, switches: 2 },
      2001: { rawComm: "hog", kthread: false, tgid: 2001, policy: 1, state: "R", cpu: 1, switches: 9 },
      3000: { rawComm: "victim", kthread: false, tgid: 3000, policy: 1, state: "R", cpu: 1, switches: 5 },
    };
    const { log } = recordingLogger();
    const b = new SchedDebugBackend({
      cpus: [0, 1],
      log,
      path: "/fake",
      read: () => forgedFile("state3"),
      facts: (pid) => facts[pid] ?? null,
      now: () => 0n,
    });
    b.start();
    for (let i = 0; i < 3; i++) {
      const s = b.snapshot();
      expect(s.waiters.map((w) => w.pid)).toEqual([3000]);
      expect(s.running[1]).toMatchObject({ pid: 2001 });
      expect(s.running[0]).toMatchObject({ pid: 0 });
    }
  });

  test("a second section or table for a CPU, a pid twice, or a row that is no row: that CPU is malformed, said", () => {
    const good = forgedFile("state3").toString("latin1");
    const parse = (text: string) => parseSchedDebug(Buffer.from(text, "latin1"));
    const dupCpu = `${good}cpu#1, 1000.000 MHz\n  .curr->pid : 7\n`;
    expect(parse(dupCpu).cpus.get(1)!.malformed).toBe("cpu#1 appears twice");
    const twoTables = good.replace("dl_rq[1]:", "runnable tasks:\n S task PID x switches prio\n---\n\ndl_rq[1]:");
    expect(parse(twoTables).cpus.get(1)!.malformed).toBe("two task tables");
    const victimRow = good.split("\n").find((l) => l.startsWith(` R ${"victim".padStart(15)}  3000 `))!;
    const twice = good.replace(victimRow, `${victimRow}\n${victimRow}`);
    expect(parse(twice).cpus.get(1)!.malformed).toBe("pid 3000 twice");
    const junk = good.replace(victimRow, `${victimRow}\nthis is no row`);
    const sd = parse(junk);
    expect(sd.cpus.get(1)!.malformed).toMatch(/^not a task row/);
    expect(sd.problems).toEqual([expect.stringMatching(/^cpu 1: not a task row/)]);
    expect(sd.cpus.get(0)!.malformed).toBeNull();
  });
});

describe("any bytes in names (fast-check)", () => {
  const name = fc.uint8Array({ minLength: 1, maxLength: 15 }).map((a) => a.map((x) => (x === 0 ? 1 : x)));
  const task = fc.record({
    comm: name,
    pid: fc.integer({ min: 1, max: 4_194_304 }),
    switches: fc.integer({ min: 0, max: 2 ** 40 }),
    prio: fc.integer({ min: -1, max: 139 }),
    state: fc.constantFrom("R", "S", "D", "I", "T", "X", "Z"),
  });
  const cpu = fc.uniqueArray(task, { minLength: 1, maxLength: 12, selector: (t) => t.pid });

  test("every row comes back exactly, in every layout, and a pass keeps exactly the runnable ones", () => {
    fc.assert(
      fc.property(cpu, cpu, fc.constantFrom<RowStyle>("state3", "state2", "legacy"), (t0, t1, style) => {
        // pids unique per CPU (the kernel's are unique system-wide); CPU 1's first task runs. Each
        // CPU lists its per-CPU kthreads, as every kernel does (pids above the generated ones).
        const kthread = (n: number) => ({
          comm: bytes(`ksoftirqd/${n}`),
          pid: 5_000_000 + n,
          switches: 1,
          prio: 120,
          state: "S",
        });
        const tasks1 = [...t1.map((t, i) => ({ ...t, current: i === 0, state: i === 0 ? "R" : t.state })), kthread(1)];
        const tasks0 = [kthread(0), ...t0];
        const file = printSchedDebug(
          [
            { cpu: 0, currPid: 0, tasks: tasks0 },
            { cpu: 1, currPid: tasks1[0]!.pid, tasks: tasks1 },
          ],
          style,
        );
        const sd = parseSchedDebug(file);
        expect(sd.problems).toEqual([]);
        for (const [n, tasks] of [
          [0, tasks0],
          [1, tasks1],
        ] as const) {
          const got = sd.cpus.get(n)!;
          expect(got.complete).toBe(true);
          expect(got.tasks.map((t) => [t.pid, t.switches, t.prio])).toEqual(
            tasks.map((t) => [t.pid, t.switches, t.prio]),
          );
          expect(got.tasks.map((t) => t.commField)).toEqual(
            tasks.map((t) => Buffer.from(t.comm).toString("latin1").padStart(15, " ")),
          );
        }
        const pass = parseSchedDebug(file, { cpus: new Set([1]), runnableOnly: true });
        const runnable = tasks1.filter((t) => style === "legacy" || t.state === "R");
        expect(pass.cpus.get(1)!.tasks.map((t) => t.pid)).toEqual(runnable.map((t) => t.pid));
        expect(pass.cpus.get(0)!.tasks).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });
});
