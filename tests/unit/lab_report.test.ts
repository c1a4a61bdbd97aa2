// The kernel lab's judge (lab/report.ts) over consoles written by hand in the
// guest's marker format: what passes, and what must not.
import { describe, expect, test } from "bun:test";
import { judge, parseConsole } from "../../lab/report";

const facts = (dl: string, rt = "1") =>
  `@@LAB facts dl_runtime=${dl} hrtick_dl=NO_HRTICK_DL lockdown= preempt_rt=${rt} btf=1 throttling=950000`;
const log = (name: string, lines: string[]) => [
  `@@LAB ${name} log-begin`,
  ...lines.map((l) => `@@LOG ${name} ${l}`),
  `@@LAB ${name} log-end`,
];
const T = "2026-12-02T13:00:00.000Z info:";

function backendConsole(gap: string, extra: string[] = []): string {
  return [
    "boot noise the kernel printed",
    facts("none"),
    ...log("backend-task_scan", [
      `${T} boosted pid 40 (labtool) (cpu 1) using SCHED_DEADLINE: was SCHED_FIFO prio 10, now SCHED_DEADLINE 20000/1000000000 ns for 3 s, waited 3.010 s`,
      `${T} restored pid 40 (labtool) (cpu 1) to SCHED_FIFO prio 10 from SCHED_FIFO after 3.00 s (boost ended), ran 4.000 ms`,
    ]),
    `@@LAB backend-task_scan pid=40 wakes=150 maxgap=${gap} policy=1 prio=10 throttling=950000`,
    ...extra,
    "@@LAB done",
  ].join("\r\n");
}

const row = (text: string, scen: string) => judge(parseConsole("6.1-rt", text), new Set([scen]));

describe("lab report", () => {
  test("a rescued victim whose policy came back passes, with its gap as the figure", () => {
    const [r] = row(backendConsole("3.40"), "2");
    expect(r).toMatchObject({ scenario: "2 task_scan", ok: true, figure: "longest gap 3.40 s" });
  });

  test("a gap over threshold + 2 s fails, whatever the log says; sched_debug's bound is 1.25 x threshold + 2 s", () => {
    expect(row(backendConsole("5.20"), "2")[0]!.ok).toBe(false);
    const sd = (gap: string) => backendConsole(gap).replaceAll("backend-task_scan", "backend-sched_debug");
    const sdRow = (gap: string) => row(sd(gap), "2").find((r) => r.scenario === "2 sched_debug")!;
    expect(sdRow("5.20").ok).toBe(true);
    expect(sdRow("5.80").ok).toBe(false);
  });

  test("own timers (PREEMPT_RT only): a rescue while CPU 0 is held needs stalld's reservation and the usual bound", () => {
    const own = (gap: string, rt = "1", reserved = true) =>
      [
        facts("none", rt),
        ...log("own-timers", [
          ...(reserved
            ? [`${T} PREEMPT_RT: stalld's main thread runs SCHED_DEADLINE 50000000/100000000 ns so that ...`]
            : []),
          `${T} boosted pid 40 (labtool) (cpu 1) using SCHED_DEADLINE: was SCHED_FIFO prio 10, now ...`,
          `${T} restored pid 40 (labtool) (cpu 1) to SCHED_FIFO prio 10 from SCHED_FIFO after 3.00 s (boost ended), ran 4.000 ms`,
        ]),
        `@@LAB own-timers pid=40 wakes=126 maxgap=${gap} policy=1 prio=10 cpu0_loop_s=8 throttling=950000`,
        "@@LAB done",
      ].join("\n");
    expect(row(own("3.30"), "7")[0]).toMatchObject({ scenario: "7 own timers", ok: true });
    expect(row(own("8.89"), "7")[0]!.result).toBe("longest gap 8.89 s > 5 s");
    expect(row(own("3.30", "1", false), "7")[0]!.result).toBe("stalld did not take its DEADLINE reservation");
    // Without PREEMPT_RT the guest does not run it, and no row stands for it.
    expect(row(own("3.30", "0"), "7")).toEqual([]);
  });

  test("a busy loop that never reached CPU 1 is no evidence: the row fails even with a quick figure", () => {
    const text = backendConsole("0.05", ["@@LAB backend-task_scan hog-not-on-cpu1 state=S cpu=0 hog_out=ready_41_"]);
    const [r] = row(text, "2");
    expect(r!.ok).toBe(false);
    expect(r!.result).toContain("never ran on CPU 1");
  });

  test("a busy loop that ended at once and ran on CPU 1 when started again is evidence (the retry is only noted)", () => {
    const text = backendConsole("3.2", ["@@LAB backend-task_scan hog-retry state=Z cpu=1 rc=137 hog_out=ready_41_"]);
    expect(row(text, "2")[0]!.ok).toBe(true);
  });

  test("debugfs left mounted, or HRTICK_DL not as found at boot, fails the backend row", () => {
    const after = (debugfs: string, hrtick: string) =>
      backendConsole("3.40", [`@@LAB backend-task_scan debugfs_after=${debugfs} hrtick_after=${hrtick}`]);
    expect(row(after("0", "NO_HRTICK_DL"), "2")[0]).toMatchObject({ ok: true });
    expect(row(after("1", "NO_HRTICK_DL"), "2")[0]!.result).toBe("debugfs left mounted");
    expect(row(after("0", "HRTICK_DL"), "2")[0]!.result).toBe("HRTICK_DL left HRTICK_DL (found NO_HRTICK_DL)");
  });

  test("stat_refresh: rescued only where it hung without stalld and returned within the bound with it", () => {
    const base = (alone: string, withS: string, dl = "none") =>
      [
        facts(dl),
        `@@LAB refresh-alone refresh=${alone}`,
        `@@LAB refresh-stalld refresh=${withS} throttling=950000`,
        "@@LAB done",
      ].join("\n");
    expect(row(base("19.68", "3.03"), "3")[0]!.ok).toBe(true);
    expect(row(base("0.01", "0.01"), "3")[0]!.ok).toBe(false);
    expect(row(base("19.68", "6.50"), "3")[0]!.ok).toBe(false);
    // Where a DL-server serves the kworker, quick either way is the expected result.
    expect(row(base("0.61", "0.58", "50000000"), "3")[0]!.ok).toBe(true);
  });

  test("a guest that never finished, or a kernel that could not be had, is one failed row", () => {
    expect(row(facts("none"), "2")).toEqual([expect.objectContaining({ scenario: "all", ok: false })]);
    expect(row("@@LAB missing kernel=6.1-rt", "2")[0]!.result).toContain("no Debian kernel package");
  });

  test("SIGKILL mid-boost counts only when the victim was boosted at the kill (DEADLINE, or FIFO 98 on the last rung)", () => {
    const crash = (policy: string, prio: string) =>
      [
        facts("none"),
        `@@LAB crash killed_policy=${policy} killed_prio=${prio} throttling_killed=-1 restarted_policy=1 throttling_after=950000 throttling_before=950000`,
        "@@LAB done",
      ].join("\n");
    expect(row(crash("6", "0"), "5")[0]!.ok).toBe(true);
    expect(row(crash("1", "98"), "5")[0]!.ok).toBe(true);
    expect(row(crash("1", "10"), "5")[0]!.ok).toBe(false);
  });

  test("kthreads: every one boosted and restored on time, and RT throttling back as found (6.12-rt once left it at -1)", () => {
    const kthreads = (throttling: string) =>
      [
        facts("none"),
        ...log(
          "kthreads",
          ["rcuc/1", "ktimers/1", "ksoftirqd/1"].flatMap((n, i) => [
            `${T} boosted pid ${30 + i} (${n}) (cpu 1) using SCHED_DEADLINE: was SCHED_FIFO prio 1, now SCHED_DEADLINE 20000/1000000000 ns for 3 s, waited 3.010 s`,
            `${T} restored pid ${30 + i} (${n}) (cpu 1) to SCHED_FIFO prio 1 from SCHED_FIFO after 3.00 s (boost ended), ran 4.000 ms`,
          ]),
        ),
        `@@LAB kthreads sleeper_maxgap=6.5 throttling=${throttling}`,
        "@@LAB done",
      ].join("\n");
    expect(row(kthreads("950000"), "6")[0]!.ok).toBe(true);
    const left = row(kthreads("-1"), "6")[0]!;
    expect(left.ok).toBe(false);
    expect(left.result).toContain("throttling left at -1");
  });
});
