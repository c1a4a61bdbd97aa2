// Automatic backend choice on real starvation: when BPF cannot load (here a
// kernel BTF file libbpf cannot parse, given with --btf), the daemon says why
// in one line, runs on sched_debug, and still rescues the victim.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kernelSchedOps, SCHED_FIFO } from "../../src/kernel/sched_attr";
import { guardRtFile } from "../helpers/guard";
import { cpuTimeNs, errors, policyOf, rtRuntime, STALLD, startDaemon, starvationScenario } from "../helpers/rt";

guardRtFile();
const dir = mkdtempSync(join(tmpdir(), "stalld-btf-"));
const BAD_BTF = join(dir, "vmlinux.btf");
writeFileSync(BAD_BTF, "this is not BTF\n");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("backend fallback", () => {
  test("BPF cannot load: one warning with libbpf's reason, sched_debug takes over, the victim is boosted and restored", async () => {
    await starvationScenario(["--btf", BAD_BTF, "-t", "3", "-g", "1", "-d", "2"], async (d, _hog, victim) => {
      const boosted = await d.waitFor(
        new RegExp(`boosted pid ${victim.pid} \\(rtload\\) \\(cpu 1\\) using SCHED_DEADLINE`),
        9000,
      );
      expect(boosted).toContain("was SCHED_FIFO prio 1");
      const cpuAtBoost = cpuTimeNs(victim.pid);
      await d.waitFor(new RegExp(`restored pid ${victim.pid} \\(rtload\\) \\(cpu 1\\) to SCHED_FIFO prio 1`), 4000);
      expect(cpuTimeNs(victim.pid)).toBeGreaterThan(cpuAtBoost);
      expect(policyOf(victim.pid)).toEqual({ policy: SCHED_FIFO, rtPriority: 1 });
      expect(kernelSchedOps.get(victim.pid).policy).toBe(SCHED_FIFO);
      expect(await d.stop()).toBe(0);

      const warnings = errors(d);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(
        /warn: task_scan, queue_track unavailable: bpf_object__load: LIBBPF_ERRNO__FORMAT: failed to get EHDR from .*vmlinux\.btf; using sched_debug$/,
      );
      expect(d.lines.some((l) => l.includes("monitoring CPUs 1 with backend sched_debug"))).toBe(true);
      // libbpf's own story is not on the console without -v.
      expect(d.lines.filter((l) => l.includes("libbpf:"))).toEqual([]);
    });
  }, 60_000);

  test("-b with a backend that cannot load: exit 2, the reason and what to do, nothing changed", () => {
    const rt = rtRuntime();
    const p = Bun.spawnSync(
      ["taskset", "-c", "0", STALLD, "run", "-f", "-c", "1", "-b", "task_scan", "--btf", BAD_BTF],
      { stdout: "pipe", stderr: "pipe" },
    );
    expect(p.exitCode).toBe(2);
    const last = p.stderr.toString().trim().split("\n").at(-1)!;
    expect(last).toMatch(
      /^stalld: no backend can run: task_scan unavailable: bpf_object__load: LIBBPF_ERRNO__FORMAT: failed to get EHDR from .*\. The BPF backends need kernel BTF/,
    );
    expect(rtRuntime()).toBe(rt);
  });

  test("--btf with the running kernel's own BTF works like no --btf", async () => {
    const d = startDaemon(["run", "-l", "-c", "1", "--btf", "/sys/kernel/btf/vmlinux"]);
    await d.waitFor(/monitoring CPUs 1 with backend task_scan/, 10_000);
    expect(await d.stop()).toBe(0);
    const text = d.lines.join("\n");
    expect(text).not.toContain("unavailable");
  });
});
