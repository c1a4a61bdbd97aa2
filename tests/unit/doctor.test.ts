// `stalld doctor`'s decisions with fake facts: each check's OK / WARN / FAIL,
// its remedy, and the exit code.
import { describe, expect, test } from "bun:test";
import { BACKENDS } from "../../src/backends/registry";
import { renderTable } from "../../src/cli/doctor";
import { type Check, chosenBackend, doctorExit, evaluate, type Facts } from "../../src/doctor/checks";
import { parseCaps } from "../../src/doctor/gather";
import { parseIsolation } from "../../src/kernel/cmdline";
import { parseLockdown } from "../../src/kernel/lockdown";

/** A trial per registered backend: started, unless `over` gives an error. */
function trials(over: Record<string, { error?: string; detail?: string }> = {}): Facts["backends"] {
  return BACKENDS.map((b) => ({ name: b.name, error: over[b.name]?.error ?? null, detail: over[b.name]?.detail }));
}

/** This VM, as measured: lockdown integrity, HRTICK_DL off and not writable, DL-server active on both CPUs, throttling on. */
function vm(over: Partial<Facts> = {}): Facts {
  return {
    release: "6.18.44-fc-v657",
    version: "#1 SMP PREEMPT_DYNAMIC @0",
    realtimeFile: false,
    root: true,
    caps: { bpf: true, perfmon: true, sysAdmin: true },
    btf: { path: "/sys/kernel/btf/vmlinux", present: true },
    libbpf: "1.1",
    backends: trials({
      sched_debug: { detail: "/sys/kernel/debug/sched/debug (task states shown, format v0.11, 6.18.44-fc-v657 #1)" },
    }),
    mounts: {
      debugfs: { mounted: true, supported: true },
      tracefs: { mounted: false, supported: true },
      bpf: { mounted: false, supported: true },
    },
    lockdown: { mode: "integrity", detail: "securityfs mounted for the read" },
    rt: { runtimeUs: 950000, periodUs: 1000000 },
    hrtick: {
      state: "off",
      source: "/sys/kernel/debug/sched/debug .sysctl_sched_features bit 11",
      detail: "sched/features unreadable (EPERM)",
    },
    hrtickDl: {
      state: "off",
      source: "/sys/kernel/debug/sched/debug .sysctl_sched_features bit 12",
      detail: "/sys/kernel/debug/sched/features unreadable (EPERM, kernel lockdown?)",
    },
    featuresReadable: false,
    tickNs: 4_000_000,
    dl: {
      kind: "known",
      source: "BPF rq->fair_server",
      cpus: new Map([0, 1].map((cpu) => [cpu, { cpu, runtimeNs: 50e6, periodNs: 1e9, active: true }])),
    },
    isolation: { isolcpus: [], nohzFull: [], rcuNocbs: [], unparsed: [] },
    monitored: [0, 1],
    online: [0, 1],
    boost: { method: "deadline", detail: "using SCHED_DEADLINE for boosting" },
    psi: true,
    container: { initialPidNamespace: true, rtRuntimeNotWritable: null, sysReadOnly: false },
    ...over,
  };
}

const row = (checks: Check[], id: string) => {
  const c = checks.find((x) => x.id === id);
  if (!c) throw new Error(`no row ${id}`);
  return c;
};

describe("doctor on this VM's facts", () => {
  const checks = evaluate(vm());

  test("every row, and run works with boosting (exit 0)", () => {
    expect(checks.map((c) => [c.id, c.status])).toEqual([
      ["kernel", "OK"],
      ["preempt-rt", "OK"],
      ["privileges", "OK"],
      ["btf", "OK"],
      ["libbpf", "OK"],
      ["pid-namespace", "OK"],
      ["sysctl", "OK"],
      ["bpf-iterator", "OK"],
      ["bpf-tracepoints", "OK"],
      ["sched-debug", "OK"],
      ["backend", "OK"],
      ["debugfs", "OK"],
      ["tracefs", "OK"],
      ["bpffs", "OK"],
      ["lockdown", "OK"],
      ["rt-throttling", "OK"],
      ["hrtick", "WARN"],
      ["dl-server", "OK"],
      ["isolation", "OK"],
      ["psi", "OK"],
      ["boost", "OK"],
    ]);
    expect(doctorExit(vm(), checks)).toBe(0);
    expect(chosenBackend(vm())).toBe("task_scan");
  });

  test("in a container: no host pid namespace fails (exit 2), a read-only /proc/sys or /sys warns, with the remedy", () => {
    const pidns = vm({ container: { initialPidNamespace: false, rtRuntimeNotWritable: null, sysReadOnly: false } });
    const c = evaluate(pidns);
    expect(row(c, "pid-namespace")).toMatchObject({ status: "FAIL", remedy: expect.stringContaining("hostPID: true") });
    expect(doctorExit(pidns, c)).toBe(2);
    const ro = evaluate(
      vm({ container: { initialPidNamespace: true, rtRuntimeNotWritable: "EROFS", sysReadOnly: true } }),
    );
    expect(row(ro, "sysctl")).toMatchObject({ status: "WARN", remedy: expect.stringContaining("--privileged") });
    expect(row(ro, "sysfs").status).toBe("WARN");
  });

  test("the rows an operator reads for this VM say the right thing", () => {
    expect(row(checks, "lockdown").found).toMatch(/^integrity: debugfs files with a write bit cannot be read/);
    expect(row(checks, "hrtick").found).toBe(
      "HRTICK off (/sys/kernel/debug/sched/debug .sysctl_sched_features bit 11), HRTICK_DL off (/sys/kernel/debug/sched/debug .sysctl_sched_features bit 12); sched/features is not writable (/sys/kernel/debug/sched/features unreadable (EPERM, kernel lockdown?))",
    );
    expect(row(checks, "hrtick").remedy).toContain("stalld raises -r to one tick");
    expect(row(checks, "dl-server").found).toBe(
      "CPU 0 50/1000 ms active, CPU 1 50/1000 ms active (BPF rq->fair_server): fair tasks are left to it, RT starvation is stalld's",
    );
    expect(row(checks, "rt-throttling").found).toMatch(
      /^on \(950000 of 1000000 us\): DEADLINE admission control refuses to boost pinned tasks \(EPERM\); stalld run turns throttling off/,
    );
    expect(row(checks, "preempt-rt").found).toBe("PREEMPT_DYNAMIC (not PREEMPT_RT)");
    expect(row(checks, "backend").found).toBe("run would use task_scan (the first choice)");
  });

  test("the table: one row per check, the remedy under it", () => {
    const t = renderTable([
      { id: "a", status: "OK", found: "x", remedy: "" },
      { id: "hrtick", status: "WARN", found: "y", remedy: "do z" },
    ]);
    expect(t).toBe("OK    a       x\nWARN  hrtick  y\n              fix: do z");
  });
});

describe("each check's decisions", () => {
  test("kernel and preemption model", () => {
    expect(row(evaluate(vm({ release: "5.4.0-150-generic" })), "kernel").status).toBe("WARN");
    expect(row(evaluate(vm({ release: "5.8.0" })), "kernel").status).toBe("OK");
    expect(row(evaluate(vm({ version: "#1 SMP PREEMPT_RT Tue" })), "preempt-rt").found).toBe("PREEMPT_RT");
    expect(row(evaluate(vm({ realtimeFile: true })), "preempt-rt").found).toBe("PREEMPT_RT");
    expect(row(evaluate(vm({ version: "#1 SMP" })), "preempt-rt").found).toBe("not preemptible (not PREEMPT_RT)");
  });

  test("privileges: not root, or root without the BPF capabilities, cannot run (exit 2)", () => {
    for (const over of [{ root: false }, { caps: { bpf: false, perfmon: true, sysAdmin: false } }]) {
      const f = vm(over);
      const c = evaluate(f);
      expect(row(c, "privileges").status).toBe("FAIL");
      expect(doctorExit(f, c)).toBe(2);
    }
    expect(row(evaluate(vm({ caps: { bpf: true, perfmon: true, sysAdmin: false } })), "privileges").found).toBe(
      "root, CAP_BPF + CAP_PERFMON",
    );
  });

  test("no BTF: a warning with both remedies; backends fall through to sched_debug", () => {
    const f = vm({
      btf: { path: "/sys/kernel/btf/vmlinux", present: false },
      backends: trials({ task_scan: { error: "no BTF" }, queue_track: { error: "no BTF" } }),
    });
    const c = evaluate(f);
    expect(row(c, "btf")).toMatchObject({ status: "WARN", remedy: expect.stringContaining("--btf FILE") });
    expect(row(c, "bpf-iterator").status).toBe("WARN");
    expect(row(c, "backend").found).toBe("run would use sched_debug: task_scan, queue_track cannot start");
    expect(doctorExit(f, c)).toBe(0);
  });

  test("nothing can start: FAIL and exit 2", () => {
    const f = vm({
      backends: trials({ task_scan: { error: "x" }, queue_track: { error: "y" }, sched_debug: { error: "EACCES" } }),
    });
    const c = evaluate(f);
    expect(row(c, "backend").status).toBe("FAIL");
    expect(row(c, "sched-debug").status).toBe("WARN");
    expect(doctorExit(f, c)).toBe(2);
  });

  test("boost policy: FIFO only warns; none means log-only (exit 1)", () => {
    expect(row(evaluate(vm({ boost: { method: "fifo", detail: "DEADLINE: EPERM" } })), "boost").status).toBe("WARN");
    const f = vm({ boost: { method: null, detail: "EPERM, EPERM" } });
    const c = evaluate(f);
    expect(row(c, "boost").status).toBe("FAIL");
    expect(doctorExit(f, c)).toBe(1);
  });

  test("lockdown: none OK, unknown and confidentiality warn", () => {
    expect(row(evaluate(vm({ lockdown: { mode: "none", detail: "" } })), "lockdown").status).toBe("OK");
    expect(row(evaluate(vm({ lockdown: { mode: null, detail: "no securityfs" } })), "lockdown").status).toBe("WARN");
    expect(row(evaluate(vm({ lockdown: { mode: "confidentiality", detail: "" } })), "lockdown").status).toBe("WARN");
    expect(parseLockdown("none [integrity] confidentiality\n")).toBe("integrity");
    expect(parseLockdown("[none] integrity confidentiality")).toBe("none");
  });

  test("HRTICK_DL: on, or off but writable, is fine", () => {
    expect(
      row(evaluate(vm({ hrtickDl: { state: "on", source: "sched/features", detail: "" } })), "hrtick").status,
    ).toBe("OK");
    expect(row(evaluate(vm({ featuresReadable: true })), "hrtick").found).toContain(
      "stalld run turns HRTICK_DL on while it runs",
    );
  });

  test("RT throttling off", () => {
    expect(row(evaluate(vm({ rt: { runtimeUs: -1, periodUs: 1000000 } })), "rt-throttling").found).toMatch(/^off/);
  });

  test("DL-server: none, unknown, one CPU turned off", () => {
    expect(
      row(evaluate(vm({ dl: { kind: "none", source: "kernel 6.6", cpus: new Map() } })), "dl-server").found,
    ).toMatch(/^none in this kernel/);
    expect(
      row(evaluate(vm({ dl: { kind: "unknown", source: "BPF: x; debugfs: EPERM", cpus: new Map() } })), "dl-server")
        .status,
    ).toBe("WARN");
    const off = vm();
    off.dl.cpus.get(1)!.runtimeNs = 0;
    expect(row(evaluate(off), "dl-server").found).toBe(
      "CPU 0 50/1000 ms active, CPU 1 off (runtime 0) (BPF rq->fair_server): fair tasks on CPUs other than 1 are left to it, RT starvation is stalld's",
    );
  });

  test("isolation: isolated CPUs not monitored, nohz_full without rcu_nocbs, all good", () => {
    const iso = (cmdline: string) => parseIsolation(cmdline, 8);
    const missed = evaluate(
      vm({ isolation: iso("isolcpus=managed_irq,domain,2-7 nohz_full=2-7 rcu_nocbs=2-7"), monitored: [2, 3] }),
    );
    expect(row(missed, "isolation")).toMatchObject({ status: "WARN", remedy: "monitor the isolated CPUs: -c 2-7" });
    const nocb = evaluate(vm({ isolation: iso("nohz_full=2-7"), monitored: [2, 3, 4, 5, 6, 7] }));
    expect(row(nocb, "isolation")).toMatchObject({
      status: "WARN",
      remedy: "add rcu_nocbs=2-7 to the kernel command line",
    });
    const good = evaluate(
      vm({ isolation: iso("isolcpus=2-7 nohz_full=2-7 rcu_nocbs=2-7"), monitored: [2, 3, 4, 5, 6, 7] }),
    );
    expect(row(good, "isolation")).toMatchObject({
      status: "OK",
      found: "isolcpus=2-7 nohz_full=2-7 rcu_nocbs=2-7; all isolated CPUs monitored",
    });
    expect(iso("quiet rcu_nocbs nohz_full=all")).toEqual({
      isolcpus: [],
      nohzFull: [0, 1, 2, 3, 4, 5, 6, 7],
      rcuNocbs: [0, 1, 2, 3, 4, 5, 6, 7],
      unparsed: [],
    });
    expect(iso("isolcpus=x-y").unparsed).toEqual(["isolcpus=x-y"]);
  });

  test("capabilities from /proc/self/status", () => {
    expect(parseCaps("CapEff:\t000001fffeffffff\n")).toEqual({ sysAdmin: true, perfmon: true, bpf: true });
    expect(parseCaps("CapEff:\t0000000000000000\n")).toEqual({ sysAdmin: false, perfmon: false, bpf: false });
    expect(parseCaps("CapEff:\t000000c000000000\n")).toEqual({ sysAdmin: false, perfmon: true, bpf: true });
  });
});
