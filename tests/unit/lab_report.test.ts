// The kernel lab's judge (lab/report.ts) over consoles written by hand in the
// guest's marker format: what passes, and what must not.
import { describe, expect, test } from "bun:test";
import { clockOf, judge, parseConsole, passGap } from "../../lab/report";

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
  test("fifo99: a victim behind a FIFO-99 loop is judged like any rescue (threshold + 2 s, SCHED_FIFO 10 back)", () => {
    const fifo99 = (gap: string, prio = "10") =>
      [
        facts("0", "0"),
        ...log("fifo99", [
          `${T} boosted pid 40 (labtool) (cpu 1) using SCHED_DEADLINE: was SCHED_FIFO prio 10, now ...`,
          `${T} restored pid 40 (labtool) (cpu 1) to SCHED_FIFO prio 10 from SCHED_DEADLINE after 3.00 s (boost ended)`,
        ]),
        `@@LAB fifo99 pid=40 wakes=65 maxgap=${gap} policy=1 prio=${prio} hog_prio=99 throttling=950000`,
        "@@LAB done",
      ].join("\n");
    expect(row(fifo99("3.07"), "8")[0]).toMatchObject({ scenario: "8 fifo99", ok: true, figure: "longest gap 3.07 s" });
    expect(row(fifo99("10.20"), "8")[0]!.result).toBe("longest gap 10.2 s > 5 s");
    expect(row(fifo99("3.07", "98"), "8")[0]!.result).toBe("victim ended as policy 1 prio 98");
  });

  describe("abuse (row 9)", () => {
    // Passes of stalld every second through the loop's 15 s (epoch 1000..1015).
    const at = (s: number) => new Date(s * 1000).toISOString();
    const passes = (every: number, from = 1000.5, to = 1015) =>
      Array.from({ length: Math.floor((to - from) / every) + 1 }, (_, i) => from + i * every).map(
        (t) => `${at(t)} debug: \tchecking cpu 1 - rt: 203 - starving: 204`,
      );
    interface Abuse {
      dl?: string;
      held?: [string, string, string];
      lowererEnd?: string;
      floodNotOwn?: string;
      cpu1?: string;
      lines?: string[];
      extra?: string[];
      throttling?: string;
    }
    const abuse = (o: Abuse = {}) => {
      const [hm, hl, hf] = o.held ?? ["3.02", "0.22", "3.04"];
      return [
        facts(o.dl ?? "none"),
        ...log("abuse", [
          `${at(1003)} info: boosted pid 431 (mover) (cpu 1) using SCHED_DEADLINE: was SCHED_FIFO prio 10, now ...`,
          ...(o.lines ?? passes(1)),
        ]),
        "@@LAB abuse hog_t0=1000.000 hog_t1=1015.000 stalld_pid=382 throttling_before=950000 " +
          `throttling=${o.throttling ?? "950000"}`,
        "@@LAB abuse-mover pid=431 held_boost_s=1.883 moved=1 move_err=ok spins=1 spun_s=0.001 wakes=235 maxgap=4.3 " +
          "seen=6:0 cpu=0 policy=1 prio=10",
        "@@LAB abuse-lowerer pid=433 held_boost_s=0.3 tried=1 fifo9=EPERM other=ok wakes=123 maxgap=4.1 seen=6:0 " +
          (o.lowererEnd ?? "policy=1 prio=10"),
        "@@LAB abuse-flood pid=434 n=200 started=200 ran=200 saw_other=186 held_boost_s=3.2 maxgap=4.9 " +
          "gaps_over_5s=0 " +
          `not_fifo10=${o.floodNotOwn ?? "0"}`,
        `@@LAB abuse-dlsum cpu0=0.20 cpu0_tasks=1 cpu1=${o.cpu1 ?? "4.99"} cpu1_tasks=3 mover_held_s=${hm} ` +
          "mover_boosted=1 " +
          `mover_seen=1 lowerer_held_s=${hl} lowerer_boosted=1 lowerer_seen=1 flood_held_s=${hf} flood_boosted=190 ` +
          "flood_seen=200 max_tasks=202 scans=545 scan_ms=3.1 scan_ms_max=12.5 scan_gap_max_s=0.040",
        ...(o.extra ?? []),
        "@@LAB done",
      ].join("\n");
    };

    test("abusers that held nothing past -d + 1 s, all back on SCHED_FIFO 10, 5 % per CPU at most: pass", () => {
      const [r] = row(abuse(), "9");
      expect(r).toMatchObject({ scenario: "9 abuse", ok: true });
      expect(r!.figure).toBe(
        "mover held 3.0 s (moved to CPU 0), lowerer held 0.2 s (FIFO 9: EPERM, OTHER: ok), " +
          "flood: 190/200 boosted, longest gap 4.9 s, peak share 4.99 % (CPU 1), passes 1.00 s apart at most",
      );
      // 5 % with rounding is still within the bound.
      expect(row(abuse({ cpu1: "5.01" }), "9")[0]!.ok).toBe(true);
    });

    test("a hold past -d + 1 s fails, on dlsum's outside view (a task's own joins a restore and a re-boost)", () => {
      const r = row(abuse({ held: ["3.02", "11.85", "3.04"] }), "9")[0]!;
      expect(r.ok).toBe(false);
      expect(r.result).toBe("lowerer held a policy other than SCHED_FIFO 10 for 11.85 s > 4 s");
    });

    test("an abuser left on another policy, or a flood thread not on SCHED_FIFO 10 at the end, fails", () => {
      expect(row(abuse({ lowererEnd: "policy=0 prio=0" }), "9")[0]!.result).toBe("lowerer ended as policy 0 prio 0");
      expect(row(abuse({ floodNotOwn: "3" }), "9")[0]!.result).toBe("3 flood threads did not end as SCHED_FIFO 10");
    });

    test("more than 5 % of a CPU in DEADLINE boosts at once fails", () => {
      const r = row(abuse({ cpu1: "50.40" }), "9")[0]!;
      expect(r.ok).toBe(false);
      expect(r.result).toBe("DEADLINE bandwidth on CPU 1 reached 50.4 % > 5 %");
    });

    test("stalld's passes: a gap of 2.5 s or more while the loop ran fails, and so does a stuck log", () => {
      const late = [...passes(1, 1000.5, 1006), ...passes(1, 1009, 1015)];
      expect(row(abuse({ lines: late }), "9")[0]!.result).toBe(
        "stalld's passes 3.50 s apart while the loop ran (> 2.5 s)",
      );
      const stuck = row(abuse({ extra: ["@@LAB abuse-stuck after_s=4.5"] }), "9")[0]!;
      expect(stuck.result).toBe("stalld's log stopped for 4.5 s");
      // A silence that began after the loop ended, or was over before waits could cross the threshold (CPU 1
      // idle, nothing to log), is no stuck stalld.
      const at = (t: string) => row(abuse({ extra: [`@@LAB abuse-stuck after_s=4 at=${t}`] }), "9")[0]!.ok;
      expect(at("1020.5")).toBe(true);
      expect(at("1001.9")).toBe(true);
      expect(at("1016")).toBe(false);
      expect(at("1008")).toBe(false);
    });

    test("RT throttling not put back fails; no abuser boosted at all is no evidence", () => {
      expect(row(abuse({ throttling: "-1" }), "9")[0]!.result).toBe("throttling left at -1, was 950000");
      const none = abuse()
        .replace(/_boosted=\d+/g, "_boosted=0")
        .replace(/boosted pid 431/, "saw pid 431");
      expect(row(none, "9")[0]!.result).toBe("no abuser was ever boosted: no evidence");
    });

    test("a lowerer whose boost ended just before its try (FIFO 9 allowed) made its own change: not judged", () => {
      const own = abuse({ held: ["3.02", "11.85", "3.04"], lowererEnd: "policy=0 prio=0" }).replace(
        "fifo9=EPERM other=ok",
        "fifo9=ok other=-",
      );
      const r = row(own, "9")[0]!;
      expect(r.ok).toBe(true);
      expect(r.result).toContain("its change was its own, not judged");
    });

    test("the loop's window ends hog_s after it started, not when the guest's shell got to see it end", () => {
      // Passes stop at 1015 (CPU 1 idles after the loop); the shell saw the end only at 1035.
      const text = abuse().replace("hog_t1=1015.000", "hog_t1=1035.000 hog_s=15");
      expect(row(text, "9")[0]!.ok).toBe(true);
      expect(row(abuse().replace("hog_t1=1015.000", "hog_t1=1035.000"), "9")[0]!.ok).toBe(false);
    });

    test("where a DL-server serves CPU 1 the row is n/a: neither passed nor failed", () => {
      const text = [facts("50000000", "0"), "@@LAB abuse na=dl-server dl_runtime=50000000", "@@LAB done"].join("\n");
      const [r] = row(text, "9");
      expect(r).toMatchObject({ scenario: "9 abuse", ok: true, na: true });
    });

    test("passGap: the longest stretch without a pass in the window, counted from and to its ends", () => {
      const lines = [1000.2, 1003.1, 1004.9, 1006.0].map(
        (t) => `${at(t)} debug: \tchecking cpu 1 - rt: 1 - starving: 0`,
      );
      expect(passGap(lines, 1001, 1007)).toBeCloseTo(2.1, 5);
      expect(passGap(lines, 1002.5, 1007)).toBeCloseTo(1.8, 5);
      expect(passGap(lines, 1002.5, 1009)).toBeCloseTo(3.0, 5);
      expect(passGap(lines, 1007, 1009)).toBeNaN();
    });

    test("a pass planned a threshold away before the loop's waits can cross it is no late pass", () => {
      // Passes at 1000.5 (nothing near the threshold: next one 2.9 s later), then every second.
      const lines = [...passes(1, 1000.5, 1000.5), ...passes(1, 1003.4, 1015)];
      expect(row(abuse({ lines }), "9")[0]!.ok).toBe(true);
    });
  });

  test("the clock of each boot: icount, multi-threaded TCG or KVM, from the @@HOST line", () => {
    const host = (accel: string) => parseConsole("6.12", `@@HOST kernel=6.12 accel=${accel} seconds=60 rc=0`);
    expect(clockOf(host("tcg-icount"))).toBe("icount");
    expect(clockOf(host("tcg"))).toBe("tcg (multi-threaded)");
    expect(clockOf(host("kvm"))).toBe("kvm");
  });
});
