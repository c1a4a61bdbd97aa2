// stalld top's screen from fixed models.
import { describe, expect, test } from "bun:test";
import { describeTask, formatWait, renderTop, type TopModel } from "../../src/top/render";

const model: TopModel = {
  time: new Date("2026-11-25T12:00:05Z"),
  backend: "task_scan",
  thresholdS: 3,
  cpus: [
    { cpu: 0, running: { pid: 0, comm: "", policy: 0, prio: 140 }, waiters: [], dlServer: "50/1000 ms active" },
    {
      cpu: 1,
      running: { pid: 2001, comm: "rtload", policy: 1, prio: 89 },
      waiters: [
        { pid: 2003, comm: "kworker/1:2", policy: 0, prio: 120, waitedNs: 0.4e9 },
        { pid: 2002, comm: "rtload", policy: 1, prio: 98, waitedNs: 4.25e9 },
      ],
      dlServer: "50/1000 ms active",
    },
  ],
  events: ["12:00:04 rtload-2002 starving on CPU 1 behind rtload-2001 (waited 3.0 s)"],
  boosts: ["rtload-2002 on CPU 1: SCHED_DEADLINE 4000000/1000000000 ns since 12:00:04 (stalld pid 900)"],
};

describe("renderTop", () => {
  test("per CPU: the runner, the longest waiter first, marked when starving; boosts and events below", () => {
    const lines = renderTop(model, 160);
    expect(lines[0]).toBe("stalld top - 12:00:05  backend task_scan  starving after 3 s  (q quits)");
    const cpu1 = lines.findIndex((l) => l.startsWith("1 "));
    expect(lines[cpu1]).toMatch(/^1 +rtload-2001 +FIFO 10 +rtload-2002 +FIFO 1 +4\.3 s +50\/1000 ms active STARVING$/);
    expect(lines[cpu1 + 1]).toMatch(/^ +kworker\/1:2-2003 +OTHER \+0 +0\.4 s$/);
    expect(lines.find((l) => l.startsWith("0 "))).toMatch(/^0 +\(idle\) +- +50\/1000 ms active$/);
    expect(lines).toContain("BOOSTED NOW (by the running daemon)");
    expect(lines).toContain(
      "  rtload-2002 on CPU 1: SCHED_DEADLINE 4000000/1000000000 ns since 12:00:04 (stalld pid 900)",
    );
    expect(lines.at(-1)).toBe("  12:00:04 rtload-2002 starving on CPU 1 behind rtload-2001 (waited 3.0 s)");
  });

  test("narrow terminals cut lines; many waiters are summed up", () => {
    const many = {
      ...model,
      cpus: [
        {
          ...model.cpus[1]!,
          waiters: Array.from({ length: 9 }, (_, i) => ({
            pid: 3000 + i,
            comm: "w",
            policy: 0,
            prio: 120,
            waitedNs: i * 1e8,
          })),
        },
      ],
    };
    const lines = renderTop(many, 40);
    expect(lines.every((l) => l.length <= 40)).toBe(true);
    expect(renderTop(many, 200).some((l) => l.trim() === "(4 more waiting)")).toBe(true);
  });

  test("policies and waits", () => {
    expect(describeTask({ pid: 1, comm: "", policy: 6, prio: -1 })).toBe("DEADLINE");
    expect(describeTask({ pid: 1, comm: "", policy: 3, prio: 125 })).toBe("BATCH +5");
    expect(describeTask({ pid: 1, comm: "", policy: 2, prio: 0 })).toBe("RR 99");
    expect(formatWait(123.4e9)).toBe("123 s");
  });
});
