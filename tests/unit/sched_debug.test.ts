// The sched_debug parser on each layout (a real capture of this VM's 6.18 and
// the older layouts written from the kernels' printf formats), on truncated
// and garbage input; and the backend's tracking with a fake file and clock.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { rowIsTask, SchedDebugBackend, type TaskFacts } from "../../src/backends/sched_debug";
import {
  parseRowAt,
  parseSchedDebug,
  parseTableHeader,
  type SchedDebug,
  SchedDebugFormatError,
  switchesAndPrio,
} from "../../src/kernel/sched_debug";
import { recordingLogger } from "../helpers/fakes";
import { bytes, printSchedDebug } from "../helpers/sched_debug_printer";

const FIXTURES = join(import.meta.dir, "../fixtures/sched_debug");
const fixture = (name: string) => readFileSync(join(FIXTURES, name), "utf8");
const tasksOf = (sd: SchedDebug, cpu: number) =>
  sd.cpus.get(cpu)!.tasks.map((t) => [t.state, t.current, t.comm, t.pid, t.switches, t.prio]);

/** What make-older.py writes for CPU 1, in every layout that shows states. */
const CPU1: (string | number | boolean)[][] = [
  ["S", false, "jbd2/nvme0n1p2-", 412, 2231, 120],
  ["R", true, "dpdk-worker", 2001, 9, 49],
  ["R", false, "ksoftirqd/1", 22, 8812, 120],
  ["R", false, "Web Content", 3100, 77, 98],
  ["R", false, "worker 7", 3101, 12, 120],
  ["I", false, "kworker/1:1", 95, 310, 120],
  ["X", false, "dying", 3102, 3, 120],
  ["R", false, "big pid", 4194301, 5, 110],
  ["D", false, "dl task", 3200, 41, -1],
];

describe("parseSchedDebug on each kernel's layout", () => {
  test("6.18 (this VM, captured with a FIFO 10 hog and a FIFO 1 victim on CPU 1)", () => {
    const text = fixture("linux-6.18-x86.txt");
    const sd = parseSchedDebug(text);
    expect(sd.version).toBe("v0.11, 6.18.44-fc-v657 #1");
    expect(sd.layout).toBe("state");
    expect(sd.problems).toEqual([]);
    const cpu1 = sd.cpus.get(1)!;
    expect(cpu1).toMatchObject({ currPid: 6907, nrRunning: 3, rtNrRunning: 2, dlNrRunning: 0, complete: true });
    expect(cpu1.tasks.find((t) => t.current)).toMatchObject({
      state: "R",
      current: true,
      comm: "rtload",
      pid: 6907,
      switches: 9,
      prio: 89,
    });
    expect(cpu1.tasks.find((t) => t.pid === 6909)).toMatchObject({
      state: "R",
      current: false,
      comm: "rtload",
      pid: 6909,
      switches: 2,
      prio: 98,
    });
    // Every row of every table parsed, and each pid is the one printed after its comm.
    const rows = text.split("\n").filter((l) => /^( [A-Z]|>R) /.test(l) && !/ task +PID /.test(l));
    const parsed = [...sd.cpus.values()].flatMap((c) => c.tasks);
    expect(parsed).toHaveLength(rows.length);
    for (const [i, t] of parsed.entries())
      expect(rows[i]!.slice(3)).toStartWith(`${t.comm.padStart(15)} ${String(t.pid).padStart(5)} `);
    // The 15-character comms the kernel truncates fill the whole column.
    expect(parsed.some((t) => t.comm === "kworker/R-rcu_g")).toBe(true);
  });

  test.each([
    ["linux-5.15-x86.txt", "4.14 to 6.5: state letter, tree-key then switches"],
    ["linux-6.1-arm64.txt", "no MHz on the cpu# line (not x86)"],
    [
      "linux-6.6-x86.txt",
      "6.6 EEVDF: no space after the state, eligible/deadline/slice before switches, header not updated",
    ],
  ])("%s (%s)", (name) => {
    const sd = parseSchedDebug(fixture(name));
    expect(sd.layout).toBe("state");
    expect(sd.problems).toEqual([]);
    expect([...sd.cpus.keys()]).toEqual([0, 1]);
    // The cfs_rq block's nr_running (7) is not the CPU's; the root rt_rq's count is taken.
    expect(sd.cpus.get(1)).toMatchObject({
      currPid: 2001,
      nrRunning: 6,
      rtNrRunning: 2,
      dlNrRunning: 1,
      complete: true,
    });
    expect(tasksOf(sd, 1)).toEqual(CPU1);
    expect(tasksOf(sd, 0).filter((t) => t[1])).toEqual([["R", true, "sshd", 901, 5120, 120]]);
  });

  test("before 4.14 (/proc/sched_debug): no states, R marks the running task, sleepers listed", () => {
    const sd = parseSchedDebug(fixture("linux-3.10-x86.txt"));
    expect(sd.layout).toBe("legacy");
    expect(sd.version).toBe("v0.10, 3.10.0-1160.el7.x86_64 #1 SMP");
    expect(sd.problems).toEqual([]);
    expect(tasksOf(sd, 1)).toEqual(CPU1.filter((t) => t[0] !== "X").map((t) => [t[1] ? "R" : "?", ...t.slice(1)]));
  });

  test.each(["linux-6.18-x86.txt", "linux-5.15-x86.txt", "linux-6.6-x86.txt", "linux-3.10-x86.txt"])(
    "%s: a pass's parse (CPU 1, runnable rows only) keeps exactly what a full parse says of them",
    (name) => {
      const text = fixture(name);
      const full = parseSchedDebug(text);
      const pass = parseSchedDebug(text, { cpus: new Set([1]), runnableOnly: true });
      // The daemon parses the bytes it read, in place: the same answer as from text.
      expect(parseSchedDebug(Buffer.from(text), { cpus: new Set([1]), runnableOnly: true })).toEqual(pass);
      expect(parseSchedDebug(new TextEncoder().encode(text))).toEqual(full);
      expect(pass.cpus.get(0)!.tasks).toEqual([]);
      expect(pass.cpus.get(1)!.tasks).toEqual(
        full.cpus.get(1)!.tasks.filter((t) => t.current || t.state === "R" || t.state === "?"),
      );
      expect(pass.cpus.get(1)).toMatchObject({
        currPid: full.cpus.get(1)!.currPid,
        rtNrRunning: full.cpus.get(1)!.rtNrRunning,
        complete: true,
      });
    },
  );

  test("the row pieces: the name column by bytes, switches and prio wherever they moved", () => {
    const h = parseTableHeader(" S            task   PID         tree-key  switches  prio     wait-time");
    expect(h).toEqual({ layout: "state", weight: false });
    const at = (line: string, offset = 3) => {
      const b = Buffer.from(`${line}\n`, "latin1");
      return parseRowAt(b, 0, b.length - 1, h, offset);
    };
    expect(at(" R     Web Content  3100      1234.500000        77    98         0.000000")).toMatchObject({
      comm: "Web Content",
      commField: "    Web Content",
      pid: 3100,
      switches: 77,
      prio: 98,
    });
    // Spaces and digits in a name are its own: the column is 15 bytes, whatever they are.
    const spaced = ` R ${"worker 7 12".padStart(15)}  3101      1234.500000        12   120`;
    expect(at(spaced)).toMatchObject({ comm: "worker 7 12", pid: 3101 });
    expect(switchesAndPrio(["1234.5", "E", "1236.2", "S", "2.8", "55.25", "77", "98", "0.0"])).toEqual({
      switches: "77",
      prio: "98",
    });
    expect(switchesAndPrio(["1024", "1234.5", "N", "1236.2", "2.8", "55.25", "77", "-1"])).toEqual({
      switches: "77",
      prio: "-1",
    });
    expect(switchesAndPrio(["1234.5", "/user.slice", "77", "98"])).toBeNull();
    const w = parseTableHeader(" S            task   PID weight        vruntime  switches  prio");
    expect(w.weight).toBe(true);
    const wb = Buffer.from(" R          rtload  6909   1024   6371.661944        2    98\n", "latin1");
    expect(parseRowAt(wb, 0, wb.length - 1, w, 3)).toMatchObject({ pid: 6909, switches: 2, prio: 98 });
    expect(at(" R          rtload  6909      6371.661944   E")).toBe("no switches and prio");
    expect(at("?R          rtload  6909      6371.661944        2   98")).toBe("no state mark");
    expect(at(" R          rtload  6909      6371.661944        2   140")).toBe("prio 140 out of range");
    expect(at(" R          rtload  6909      6371.661944        2   98", 2)).toBe("no name column");
  });
});

describe("parseSchedDebug on bad input: a clear error or fewer tasks, never a wrong pid", () => {
  const full = fixture("linux-6.18-x86.txt");
  const whole = parseSchedDebug(full);

  test("cut anywhere: sections cut short are marked incomplete, every task that is there is exact", () => {
    let errors = 0;
    let incomplete = 0;
    for (let cut = 0; cut < full.length; cut += 7) {
      let sd: SchedDebug;
      try {
        sd = parseSchedDebug(full.slice(0, cut));
      } catch (e) {
        expect(e).toBeInstanceOf(SchedDebugFormatError);
        errors++;
        continue;
      }
      // A complete section is the whole section; one cut short holds a prefix of its rows, each exact.
      for (const c of sd.cpus.values()) {
        const all = whole.cpus.get(c.cpu)!.tasks;
        if (c.complete) expect(c.tasks).toEqual(all);
        else {
          incomplete++;
          expect(c.tasks).toEqual(all.slice(0, c.tasks.length));
        }
      }
      // Only the last section can be cut short.
      expect([...sd.cpus.values()].slice(0, -1).every((c) => c.complete)).toBe(true);
    }
    expect(errors).toBeGreaterThan(0);
    expect(incomplete).toBeGreaterThan(0);
  });

  test.each([
    ["empty", "", /no per-CPU section/],
    ["words", "hello\nworld\n", /no per-CPU section/],
    ["/proc/cpuinfo", readFileSync("/proc/cpuinfo", "utf8"), /no per-CPU section/],
    ["no table", "cpu#0, 1 MHz\n  .nr_running : 1\n", /no task table/],
    ["other header", "cpu#0\n\nrunnable tasks:\n PID comm prio\n----\n", /unknown task table header/],
    [
      "no switches",
      "cpu#0\n\nrunnable tasks:\n S            task   PID         tree-key  prio\n----\n",
      /without switches and prio/,
    ],
    [
      "no dashes",
      "cpu#0\n\nrunnable tasks:\n S            task   PID         tree-key  switches  prio\n R  x  1  2.0  3  4\n",
      /no dashed line/,
    ],
  ])("garbage: %s", (_label, text, message) => {
    expect(() => parseSchedDebug(text)).toThrow(SchedDebugFormatError);
    expect(() => parseSchedDebug(text)).toThrow(message);
  });

  test("random bytes and random edits: only SchedDebugFormatError, and every task well-formed", () => {
    let seed = 42;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let round = 0; round < 300; round++) {
      const chars = [...full];
      for (let i = 0; i < 20; i++) chars[rand(chars.length)] = String.fromCharCode(32 + rand(95));
      if (round % 10 === 0) for (let i = 0; i < 200; i++) chars[rand(chars.length)] = String.fromCharCode(rand(256));
      try {
        const sd = parseSchedDebug(chars.join(""));
        for (const t of [...sd.cpus.values()].flatMap((c) => c.tasks)) {
          expect(Number.isInteger(t.pid) && t.pid > 0).toBe(true);
          expect(t.prio).toBeGreaterThanOrEqual(-1);
          expect(t.prio).toBeLessThanOrEqual(139);
        }
      } catch (e) {
        expect(e).toBeInstanceOf(SchedDebugFormatError);
      }
    }
  });
});

/** A sched_debug file (printed as the kernel does) with CPU 0 idle and CPU 1 running `curr` before `rows`. */
function file(
  curr: [string, number, number, number],
  rows: [string, string, number, number, number][],
  cpu1Complete = true,
): Buffer {
  const [comm, pid, switches, prio] = curr;
  const printed = printSchedDebug([
    { cpu: 0, currPid: 0, tasks: [] },
    {
      cpu: 1,
      currPid: pid,
      tasks: [
        { comm: bytes(comm), pid, switches, prio, state: "R", current: true },
        ...rows.map(([state, c, p, sw, pr]) => ({ comm: bytes(c), pid: p, switches: sw, prio: pr, state })),
      ],
    },
  ]);
  // Cut: the last section stops before the blank line that ends its table.
  return cpu1Complete ? printed : printed.subarray(0, printed.length - 1);
}

function backend(files: Uint8Array[], facts: Record<number, TaskFacts | null>, cpus = [1]) {
  const { log, lines } = recordingLogger();
  let now = 0n;
  let i = 0;
  const looked: number[] = [];
  const b = new SchedDebugBackend({
    cpus,
    log,
    path: "/fake",
    read: () => files[Math.min(i++, files.length - 1)]!,
    facts: (pid) => (looked.push(pid), facts[pid] ?? null),
    now: () => now,
  });
  b.start();
  i = 0;
  return { b, lines, looked, at: (s: number) => (now = BigInt(s * 1e9)) };
}

/** /proc's view of a task: by default runnable on CPU 1 with the given switch count. */
const FIFO = (rawComm: string, tgid: number, switches: number, more: Partial<TaskFacts> = {}): TaskFacts => ({
  rawComm,
  kthread: false,
  tgid,
  policy: 1,
  state: "R",
  cpu: 1,
  switches,
  ...more,
});

describe("SchedDebugBackend (fake file, fake clock)", () => {
  const hog: [string, number, number, number] = ["dpdk-worker", 2001, 9, 49];
  const HOG = FIFO("dpdk-worker", 2000, 9);

  test("a wait is dated from the first read that sees it; the same switch count keeps the date, a new one restarts it", () => {
    const f1 = file(hog, [["R", "victim", 3000, 5, 98]]);
    const f3 = file(hog, [["R", "victim", 3000, 6, 98]]);
    let victim = FIFO("victim", 2999, 5);
    const facts = {
      2001: HOG,
      get 3000() {
        return victim;
      },
    };
    const { b, at, looked } = backend([f1, f1, f3], facts);
    at(10);
    expect(b.snapshot().waiters).toEqual([{ pid: 3000, tgid: 2999, cpu: 1, prio: 98, policy: 1, waitedNs: 0 }]);
    at(13);
    const s2 = b.snapshot();
    expect(s2.waiters[0]!.waitedNs).toBe(3e9);
    expect(s2.running[1]).toEqual({ cpu: 1, pid: 2001, tgid: 2000, prio: 49, policy: 1, ranNs: 3e9 });
    at(14);
    victim = FIFO("victim", 2999, 6);
    expect(b.snapshot().waiters[0]!.waitedNs).toBe(0);
    // /proc read once per new (pid, switches), not every pass.
    expect(looked.filter((p) => p === 3000)).toHaveLength(2);
  });

  test("a row is used only when /proc says the same name, state R, CPU and switch count; a gone task silently", () => {
    const f = file(hog, [
      ["R", "victim", 3000, 5, 98],
      ["R", "ghost", 3001, 1, 98],
    ]);
    for (const wrong of [
      { rawComm: "other" },
      { rawComm: "victim2" },
      { rawComm: "xvictim" },
      { state: "S" },
      { cpu: 0 },
      { switches: 6 },
    ]) {
      const { b, at, lines } = backend([f], { 2001: HOG, 3000: FIFO("victim", 3000, 5, wrong) });
      at(1);
      expect(b.snapshot().waiters).toEqual([]);
      expect(lines.filter((l) => l.level === "warn")).toEqual([]);
    }
    // A kernel thread's /proc name is longer (a kworker's carries its workqueue): the table's is its start.
    const kw = { commField: "    kworker/1:2", switches: 3 };
    expect(rowIsTask(kw, 1, FIFO("kworker/1:2-events", 2, 3, { kthread: true }))).toBe(true);
    expect(rowIsTask(kw, 1, FIFO("kworker/1:2-events", 2, 3))).toBe(false);
    expect(rowIsTask(kw, 1, FIFO("kworker/1:3", 2, 3, { kthread: true }))).toBe(false);
  });

  test("a pass that cannot check the running task judges nothing there, and the waits it knew keep their dates", () => {
    // The runner is checked again only when its row changes: each pass shows the hog with a new count.
    const f = (n: number) => file(["dpdk-worker", 2001, n, 49], [["R", "victim", 3000, 5, 98]]);
    let hogFacts: TaskFacts | null = HOG;
    const facts = {
      get 2001() {
        return hogFacts;
      },
      3000: FIFO("victim", 3000, 5),
    };
    const { b, at } = backend([f(9), f(10), f(11)], facts);
    at(1);
    expect(b.snapshot().waiters.map((w) => w.waitedNs)).toEqual([0]);
    at(2);
    hogFacts = null;
    const s2 = b.snapshot();
    expect(s2.waiters).toEqual([]);
    expect(s2.unread).toEqual([1]);
    at(4);
    hogFacts = FIFO("dpdk-worker", 2000, 11);
    expect(b.snapshot().waiters.map((w) => w.waitedNs)).toEqual([3e9]);
  });

  test("the running task may have switched between the table and /proc (6.12-rt's busy loop does, every pass); it cannot have switched fewer times", () => {
    const f = file(hog, [["R", "victim", 3000, 5, 98]]);
    for (const [hogSwitches, judged] of [
      [9, true],
      [12, true],
      [8, false],
    ] as const) {
      const { b, at } = backend([f], { 2001: FIFO("dpdk-worker", 2000, hogSwitches), 3000: FIFO("victim", 3000, 5) });
      at(1);
      const s = b.snapshot();
      expect(s.running[1]?.pid).toBe(judged ? 2001 : undefined);
      expect(s.waiters.map((w) => w.pid)).toEqual(judged ? [3000] : []);
    }
    // A waiter's count must match exactly.
    expect(rowIsTask({ commField: "         victim", switches: 5 }, 1, FIFO("victim", 3000, 6))).toBe(false);
    expect(rowIsTask({ commField: "         victim", switches: 5 }, 1, FIFO("victim", 3000, 6), true)).toBe(true);
  });

  test("only monitored CPUs; sleeping, dying and running rows are not waiters; an idle CPU runs pid 0", () => {
    const f = file(hog, [
      ["S", "sleeper", 3000, 5, 120],
      ["X", "dying", 3001, 1, 120],
      ["R", "victim", 3002, 1, 120],
    ]);
    const { b, at } = backend([f], { 2001: HOG, 3002: FIFO("victim", 3002, 1, { policy: 0 }) }, [0, 1]);
    at(1);
    const s = b.snapshot();
    expect(s.waiters.map((w) => w.pid)).toEqual([3002]);
    expect(s.running[0]).toMatchObject({ pid: 0 });
    const other = backend([f], { 2001: HOG }, [0]);
    other.at(1);
    expect(other.b.snapshot().waiters).toEqual([]);
  });

  test("an RT runner /proc does not confirm: nothing on that CPU is judged", () => {
    const f = file(hog, [["R", "victim", 3000, 5, 98]]);
    const { b, at } = backend([f], { 2001: FIFO("dpdk-worker", 2000, 8), 3000: FIFO("victim", 3000, 5) });
    at(1);
    const s = b.snapshot();
    expect(s.running[1]).toBeUndefined();
    expect(s.waiters).toEqual([]);
  });

  test("a section cut short keeps what was known of its CPU, and says so", () => {
    const whole = file(hog, [["R", "victim", 3000, 5, 98]]);
    const cut = file(hog, [["R", "victim", 3000, 5, 98]], false);
    const { b, at, lines } = backend([whole, cut, whole], { 2001: HOG, 3000: FIFO("victim", 3000, 5) });
    at(1);
    b.snapshot();
    at(4);
    expect(b.snapshot().waiters).toEqual([]);
    expect(
      lines.some((l) => l.msg.includes("cpu 1 not judged this pass: its section ends before its task table")),
    ).toBe(true);
    at(6);
    expect(b.snapshot().waiters[0]!.waitedNs).toBe(5e9);
  });

  test("forget() restarts a task's date", () => {
    const f = file(hog, [["R", "victim", 3000, 5, 98]]);
    const { b, at } = backend([f], { 2001: HOG, 3000: FIFO("victim", 3000, 5) });
    at(1);
    b.snapshot();
    b.forget(3000);
    at(5);
    expect(b.snapshot().waiters[0]!.waitedNs).toBe(0);
  });

  test("the legacy layout: /proc says which unmarked rows run, only where an RT task holds the CPU", () => {
    const legacy = fixture("linux-3.10-x86.txt");
    const facts: Record<number, TaskFacts> = {
      2001: FIFO("dpdk-worker", 2001, 9),
      22: FIFO("ksoftirqd/1", 22, 8812),
      3100: FIFO("Web Content", 3000, 77),
      412: FIFO("jbd2/nvme0n1p2-", 412, 2231, { state: "S" }),
      15: FIFO("rcu_preempt", 15, 1, { cpu: 0 }),
    };
    const { b, at, looked } = backend([Buffer.from(legacy)], facts, [0, 1]);
    at(1);
    const s = b.snapshot();
    expect(s.waiters.map((w) => w.pid).sort()).toEqual([22, 3100]);
    // CPU 0 runs a fair task: none of its rows cost a /proc read.
    expect(looked).not.toContain(15);
  });

  test("a file that is not sched_debug makes start() fail with the reason", () => {
    const { log } = recordingLogger();
    const b = new SchedDebugBackend({ cpus: [1], log, path: "/fake", read: () => "nothing here\n" });
    expect(() => b.start()).toThrow(/backend sched_debug unavailable: sched_debug: no per-CPU section/);
  });
});
