// The DL-server view (sources, fallbacks, summary) and the policy built on it,
// with fake kernel views for every combination.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dlServerDecision } from "../../src/daemon/decide";
import {
  DL_VIEW_MAX_AGE_NS,
  type DlServerView,
  DlServerWatch,
  describeDlServers,
  dlServerEnabled,
  kernelHasDlServer,
  readDlServerDebugfs,
  readDlServers,
} from "../../src/kernel/dl_server";
import { isFairPolicy } from "../../src/kernel/sched_attr";

const POLICIES = {
  SCHED_OTHER: 0,
  SCHED_FIFO: 1,
  SCHED_RR: 2,
  SCHED_BATCH: 3,
  SCHED_IDLE: 5,
  SCHED_DEADLINE: 6,
  SCHED_EXT: 7,
} as const;

const known = (runtimeMs: number, active: boolean | null = true): DlServerView => ({
  kind: "known",
  source: "fake",
  cpus: new Map([[1, { cpu: 1, runtimeNs: runtimeMs * 1e6, periodNs: 1e9, active }]]),
});
const VIEWS: Record<string, DlServerView> = {
  "no DL-server (kernel < 6.12)": { kind: "none", source: "kernel 6.6", cpus: new Map() },
  "server with runtime": known(50),
  "server with runtime 0 (turned off)": known(0),
  "state unknown (debugfs locked, no BPF)": { kind: "unknown", source: "debugfs: EPERM", cpus: new Map() },
  "known, but not for this CPU": { kind: "known", source: "fake", cpus: new Map() },
};

describe("dlServerDecision: every policy x every view x --boost-all", () => {
  const cases: [string, string, boolean, boolean][] = [];
  for (const [pname, policy] of Object.entries(POLICIES)) {
    for (const [vname, _view] of Object.entries(VIEWS)) {
      for (const boostAll of [false, true]) {
        // Only a fair task, on a CPU whose server has runtime, without --boost-all, is left to the server.
        const left = isFairPolicy(policy) && vname === "server with runtime" && !boostAll;
        cases.push([pname, vname, boostAll, !left]);
      }
    }
  }
  test.each(cases)("%s, %s, --boost-all %p: boost %p", (pname, vname, boostAll, boost) => {
    const d = dlServerDecision(POLICIES[pname as keyof typeof POLICIES], 1, VIEWS[vname]!, boostAll);
    expect(d.boost).toBe(boost);
    if (!d.boost) expect(d.why).toBe("the DL-server gives fair tasks 50/1000 ms on CPU 1");
  });

  test("fair means OTHER, BATCH and IDLE; sched_ext tasks are not the fair server's", () => {
    expect([0, 1, 2, 3, 5, 6, 7].filter(isFairPolicy)).toEqual([0, 3, 5]);
    expect(dlServerEnabled(known(50), 1)).toBe(true);
    expect(dlServerEnabled(known(0), 1)).toBe(false);
    expect(dlServerEnabled(VIEWS["no DL-server (kernel < 6.12)"]!, 1)).toBe(false);
    expect(dlServerEnabled(VIEWS["state unknown (debugfs locked, no BPF)"]!, 1)).toBeNull();
  });
});

describe("reading the view", () => {
  const dir = mkdtempSync(join(tmpdir(), "stalld-dl-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("debugfs: cpuN/runtime and cpuN/period, in ns", () => {
    for (const [cpu, runtime] of [
      [0, 50_000_000],
      [1, 0],
    ]) {
      mkdirSync(join(dir, `cpu${cpu}`), { recursive: true });
      writeFileSync(join(dir, `cpu${cpu}`, "runtime"), `${runtime}\n`);
      writeFileSync(join(dir, `cpu${cpu}`, "period"), "1000000000\n");
    }
    const v = readDlServerDebugfs([0, 1], dir);
    expect(v.kind).toBe("known");
    expect(v.cpus.get(0)).toEqual({ cpu: 0, runtimeNs: 50e6, periodNs: 1e9, active: null });
    expect(describeDlServers(v, [0, 1])).toBe("CPU 0 50/1000 ms, CPU 1 off (runtime 0)");
    expect(() => readDlServerDebugfs([2], dir)).toThrow(/ENOENT/);
  });

  test("BPF first, then debugfs, then the kernel version; every reason kept when nothing answers", () => {
    const bpf = () => known(50, true);
    const fails = (why: string) => () => {
      throw new Error(why);
    };
    expect(readDlServers({ bpf, debugfs: fails("x") }).source).toBe("fake");
    expect(readDlServers({ bpf: fails("no BTF"), debugfs: () => ({ ...known(40), source: "debugfs" }) }).source).toBe(
      "debugfs",
    );
    expect(
      readDlServers({
        bpf: fails("no BTF"),
        debugfs: fails("ENOENT"),
        present: () => false,
        release: "6.6.8-200.fc39.x86_64",
      }),
    ).toEqual({
      kind: "none",
      source: "kernel 6.6.8-200.fc39.x86_64",
      cpus: new Map(),
    });
    const unknown = readDlServers({
      bpf: fails("no BTF"),
      debugfs: fails("EPERM"),
      present: () => true,
      release: "6.18.44",
    });
    expect(unknown).toEqual({ kind: "unknown", source: "BPF: no BTF; debugfs: EPERM", cpus: new Map() });
    expect(describeDlServers(unknown, [1])).toBe("unknown (BPF: no BTF; debugfs: EPERM)");
    expect(describeDlServers(known(50, true), [1])).toBe("CPU 1 50/1000 ms active");
    expect(describeDlServers(known(50, false), [1, 2])).toBe("CPU 1 50/1000 ms idle, CPU 2 ?");
  });

  test("kernels with a DL-server: 6.12 on", () => {
    expect(["5.15.0", "6.6.8", "6.11.2", "6.12.0", "6.18.44-fc", "7.0"].map(kernelHasDlServer)).toEqual([
      false,
      false,
      false,
      true,
      true,
      true,
    ]);
  });

  test("the watch reads again only when its view is older than the max age", () => {
    let reads = 0;
    const w = new DlServerWatch(() => (reads++, known(50)));
    w.get(0);
    w.get(DL_VIEW_MAX_AGE_NS - 1);
    expect(reads).toBe(1);
    w.get(DL_VIEW_MAX_AGE_NS);
    expect(reads).toBe(2);
  });
});
