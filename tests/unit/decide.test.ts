// The decision table: what the daemon does about each task detect() found,
// from the task's /proc facts, the ignore lists, the DL-server view, log-only
// and --systemd. Pure: every row is one call.
import { describe, expect, test } from "bun:test";
import type { RunningTask, Waiter } from "../../src/backends/backend";
import { type DecideInput, decide, ignoredLine, type TaskDecision, type TaskFacts } from "../../src/daemon/decide";
import type { Detection } from "../../src/daemon/detect";
import type { DlServerView } from "../../src/kernel/dl_server";
import type { TaskStat } from "../../src/kernel/proc";
import { SCHED_BATCH, SCHED_FIFO, SCHED_IDLE, SCHED_OTHER, SCHED_RR } from "../../src/kernel/sched_attr";

const HOG: RunningTask = { cpu: 1, pid: 1, tgid: 1, prio: 49, policy: SCHED_FIFO, ranNs: 1e11 };
const waiter = (pid: number, policy: number, waitedNs = 25e9): Waiter => ({
  pid,
  tgid: pid,
  cpu: 1,
  prio: policy === SCHED_FIFO ? 98 : 120,
  policy,
  waitedNs,
});
const stat = (pid: number, comm: string, policy: number, state = "R"): TaskStat => ({
  pid,
  comm,
  rawComm: comm,
  flags: 0,
  state,
  cpu: 1,
  starttime: 500 + pid,
  nice: 0,
  rtPriority: policy === SCHED_FIFO ? 1 : 0,
  policy,
  prio: policy === SCHED_FIFO ? 98 : 120,
});

const NONE: DlServerView = { kind: "none", source: "kernel 6.1", cpus: new Map() };
const SERVING: DlServerView = {
  kind: "known",
  source: "fake",
  cpus: new Map([[1, { cpu: 1, runtimeNs: 50e6, periodNs: 1e9, active: true }]]),
};
const OFF: DlServerView = {
  kind: "known",
  source: "fake",
  cpus: new Map([[1, { cpu: 1, runtimeNs: 0, periodNs: 1e9, active: false }]]),
};
const UNKNOWN: DlServerView = { kind: "unknown", source: "debugfs: EPERM", cpus: new Map() };

function input(
  starving: Waiter[],
  facts: Record<number, TaskFacts | null>,
  over: Partial<Omit<DecideInput, "found" | "facts">> = {},
  early: Waiter[] = [],
): DecideInput {
  const found: Detection = {
    starving: starving.map((w) => ({ waiter: w, running: HOG })),
    early: early.map((w) => ({ waiter: w, running: HOG })),
    nextPassNs: 1e9,
  };
  return {
    found,
    facts: new Map(Object.entries(facts).map(([k, v]) => [Number(k), v])),
    ignoreThreads: [],
    ignoreProcesses: [],
    dl: NONE,
    boostAll: false,
    boosting: true,
    throttlingBackOn: false,
    ...over,
  };
}

const kinds = (i: DecideInput) => decide(i).map((d) => d.kind);

describe("decide: one decision per task found", () => {
  const fifoTask = { stat: stat(10, "victim", SCHED_FIFO), processName: null };
  const fairTask = { stat: stat(11, "kworker/1:2", SCHED_OTHER), processName: null };

  // [case, starving waiter, its facts, input overrides, expected kind]
  const table: [string, Waiter, TaskFacts | null, Partial<DecideInput>, TaskDecision["kind"]][] = [
    ["an RT task, boosting", waiter(10, SCHED_FIFO), fifoTask, {}, "boost"],
    ["an RT task, log-only", waiter(10, SCHED_FIFO), fifoTask, { boosting: false }, "report"],
    [
      "an RT task, --systemd with throttling back on",
      waiter(10, SCHED_FIFO),
      fifoTask,
      { throttlingBackOn: true },
      "hold",
    ],
    ["an RT task where the DL-server serves fair tasks", waiter(10, SCHED_FIFO), fifoTask, { dl: SERVING }, "boost"],
    ["a fair task, DL-server serving", waiter(11, SCHED_OTHER), fairTask, { dl: SERVING }, "left-to-dl-server"],
    [
      "a fair task, DL-server serving, log-only",
      waiter(11, SCHED_OTHER),
      fairTask,
      { dl: SERVING, boosting: false },
      "left-to-dl-server",
    ],
    ["a fair task, --boost-all", waiter(11, SCHED_OTHER), fairTask, { dl: SERVING, boostAll: true }, "boost"],
    ["a fair task, DL-server runtime 0", waiter(11, SCHED_OTHER), fairTask, { dl: OFF }, "boost"],
    ["a fair task, no DL-server (< 6.12)", waiter(11, SCHED_OTHER), fairTask, { dl: NONE }, "boost"],
    ["a fair task, DL-server state unknown", waiter(11, SCHED_OTHER), fairTask, { dl: UNKNOWN }, "boost"],
    ["a task gone from /proc", waiter(12, SCHED_FIFO), null, {}, "gone"],
    ["a zombie", waiter(12, SCHED_FIFO), { stat: stat(12, "z", SCHED_FIFO, "Z"), processName: null }, {}, "gone"],
    ["a stopped task", waiter(12, SCHED_FIFO), { stat: stat(12, "t", SCHED_FIFO, "T"), processName: null }, {}, "gone"],
    [
      "preempted in a sleeping state (D)",
      waiter(12, SCHED_FIFO),
      { stat: stat(12, "d", SCHED_FIFO, "D"), processName: null },
      {},
      "boost",
    ],
    ["-i matches the thread", waiter(10, SCHED_FIFO), fifoTask, { ignoreThreads: [/^vic/] }, "ignored"],
    [
      "-i is checked before the DL-server",
      waiter(11, SCHED_OTHER),
      fairTask,
      { dl: SERVING, ignoreThreads: [/^kworker/] },
      "ignored",
    ],
    [
      "-I matches the process",
      waiter(13, SCHED_FIFO),
      { stat: stat(13, "lcore-worker-2", SCHED_FIFO), processName: "dpdk-testpmd" },
      { ignoreProcesses: [/dpdk/] },
      "ignored",
    ],
  ];
  test.each(table)("%s", (_name, w, facts, over, kind) => {
    expect(kinds(input([w], { [w.pid]: facts }, over))).toEqual([kind]);
  });

  test("every policy a fair task can have is left to a serving DL-server; RT ones never are", () => {
    for (const policy of [SCHED_OTHER, SCHED_BATCH, SCHED_IDLE, SCHED_FIFO, SCHED_RR]) {
      const facts = { stat: stat(20, "t", policy), processName: null };
      const expected = [SCHED_FIFO, SCHED_RR].includes(policy) ? "boost" : "left-to-dl-server";
      expect(kinds(input([waiter(20, policy)], { 20: facts }, { dl: SERVING }))).toEqual([expected]);
    }
  });

  test("early ones (-M) warn unless gone or ignored, whatever the DL-server or log-only", () => {
    const early = [waiter(30, SCHED_OTHER, 11e9), waiter(31, SCHED_FIFO, 11e9), waiter(32, SCHED_FIFO, 11e9)];
    const facts = {
      30: { stat: stat(30, "fair", SCHED_OTHER), processName: null },
      31: { stat: stat(31, "ksoftirqd/1", SCHED_FIFO), processName: null },
      32: null,
    };
    const got = kinds(input([], facts, { dl: SERVING, boosting: false, ignoreThreads: [/^ksoftirqd/] }, early));
    expect(got).toEqual(["warn-early", "ignored", "gone"]);
  });

  test("starving ones come first, each with its waiter and the task that holds the CPU", () => {
    const d = decide(
      input(
        [waiter(10, SCHED_FIFO)],
        { 10: fifoTask, 40: { stat: stat(40, "e", SCHED_FIFO), processName: null } },
        {},
        [waiter(40, SCHED_FIFO, 11e9)],
      ),
    );
    expect(d.map((x) => [x.kind, x.waiter.pid, x.running.pid])).toEqual([
      ["boost", 10, 1],
      ["warn-early", 40, 1],
    ]);
  });
});

describe("ignoredLine", () => {
  test("the original's phrases", () => {
    expect(ignoredLine("ksoftirqd/1", null, [/^ksoftirqd/], [])).toBe(
      "Ignoring the thread ksoftirqd/1 from consideration for boosting",
    );
    expect(ignoredLine("lcore-worker-2", "dpdk-testpmd", [], [/dpdk/])).toBe(
      "Ignoring the thread lcore-worker-2 (spawned by dpdk-testpmd) from consideration for boosting",
    );
    expect(ignoredLine("kworker/1:0", "bash", [/^ksoftirqd/], [/dpdk/])).toBeNull();
    // Without -I no process name is read: the thread alone decides.
    expect(ignoredLine("lcore-worker-2", null, [], [/dpdk/])).toBeNull();
  });
});
