// `stalld doctor` on this VM: every row says what is true here (lockdown
// integrity, HRTICK_DL off, the DL-server active on both CPUs, the throttling
// value of the moment), the JSON form, and nothing left changed.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { requireRoot, rtRuntime, STALLD } from "../helpers/rt";

requireRoot();

function doctor(...args: string[]) {
  const p = Bun.spawnSync(["taskset", "-c", "0", STALLD, "doctor", ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

describe("stalld doctor", () => {
  test("the table on this VM, row by row; exit 0 (run works with boosting)", () => {
    const mounts = readFileSync("/proc/self/mounts", "utf8");
    const tmpBefore = readdirSync("/tmp").filter((f) => f.startsWith("stalld-securityfs-"));
    const rt = rtRuntime();
    const r = doctor();
    expect(r.code).toBe(0);
    expect(r.err).toBe("");
    const rows = new Map(
      r.out
        .split("\n")
        .filter((l) => /^(OK|WARN|FAIL) /.test(l))
        .map((l) => {
          const [, status, id, found] = /^(\w+)\s+(\S+)\s+(.*)$/.exec(l)!;
          return [id!, { status: status!, found: found! }];
        }),
    );
    expect(rows.get("kernel")).toEqual({
      status: "OK",
      found: readFileSync("/proc/sys/kernel/osrelease", "utf8").trim(),
    });
    expect(rows.get("lockdown")?.found).toMatch(/^integrity: /);
    expect(rows.get("hrtick")?.status).toBe("WARN");
    expect(rows.get("hrtick")?.found).toMatch(
      /HRTICK_DL off \(\/sys\/kernel\/debug\/sched\/debug \.sysctl_sched_features bit 12\)/,
    );
    expect(rows.get("dl-server")?.found).toMatch(
      /^CPU 0 50\/1000 ms active, CPU 1 50\/1000 ms active \(BPF rq->fair_server\)/,
    );
    expect(rows.get("rt-throttling")?.found).toMatch(rt === -1 ? /^off / : new RegExp(`^on \\(${rt} of 1000000 us\\)`));
    expect(rows.get("backend")?.found).toBe("run would use task_scan (the first choice)");
    expect(rows.get("boost")?.found).toMatch(
      /^SCHED_DEADLINE \(using SCHED_DEADLINE for boosting\): the kernel enforces every boost/,
    );
    for (const id of [
      "bpf-iterator",
      "bpf-tracepoints",
      "sched-debug",
      "btf",
      "privileges",
      "psi",
      "isolation",
      "pid-namespace",
      "sysctl",
    ])
      expect([id, rows.get(id)?.status]).toEqual([id, "OK"]);
    expect(r.out).toContain("fix: boosts shorter than the tick (4 ms) run a whole tick");
    expect(r.out.trim().split("\n").at(-1)).toBe("run works, with boosting (exit 0)");
    // Nothing left behind: no mount, no temp dir, throttling as it was.
    expect(readFileSync("/proc/self/mounts", "utf8")).toBe(mounts);
    expect(readdirSync("/tmp").filter((f) => f.startsWith("stalld-securityfs-"))).toEqual(tmpBefore);
    expect(rtRuntime()).toBe(rt);
  }, 30_000);

  test("--json: the same checks for machines", () => {
    const r = doctor("--json", "-c", "1");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({
      monitored: "1",
      backend: "task_scan",
      boost: "deadline",
      exit: 0,
      verdict: "run works, with boosting",
    });
    const dl = j.checks.find((c: { id: string }) => c.id === "dl-server");
    expect(dl).toMatchObject({ status: "OK", remedy: "" });
    expect(dl.found).toMatch(/^CPU 1 50\/1000 ms active/);
    expect(j.checks.every((c: { status: string }) => ["OK", "WARN", "FAIL"].includes(c.status))).toBe(true);
  }, 30_000);

  test("--btf with a file libbpf cannot parse: the BPF rows warn, sched_debug would be used", () => {
    const bad = `/tmp/stalld-doctor-${process.pid}.btf`;
    writeFileSync(bad, "not BTF");
    try {
      const j = JSON.parse(doctor("--json", "--btf", bad).out);
      expect(j.backend).toBe("sched_debug");
      expect(j.checks.find((c: { id: string }) => c.id === "bpf-iterator")).toMatchObject({
        status: "WARN",
        found: expect.stringContaining("failed to get EHDR"),
      });
      expect(j.exit).toBe(0);
    } finally {
      rmSync(bad, { force: true });
    }
  }, 30_000);

  test("bad input: one line, exit 1", () => {
    const r = doctor("-c", "7");
    expect(r.code).toBe(1);
    expect(r.err.trim().split("\n")).toHaveLength(1);
    expect(r.err).toMatch(/^stalld: -c\/--cpu: /);
    expect(doctor("--frobnicate").code).toBe(1);
  });
});
