// The record layout lives in bpf/stalld.h; the decoder mirrors it. Compile the
// header with the system compiler and compare every size and offset.
import { beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DL_FLAG,
  DL_LAYOUT,
  decodeRunning,
  decodeScan,
  decodeWaiter,
  encodeScanCfg,
  MAX_CPUS,
  RUNNING_LAYOUT,
  SCAN_CFG_LAYOUT,
  SCAN_HAS,
  SCAN_KIND,
  SCAN_LAYOUT,
  TASK_FLAG,
  WAITER_LAYOUT,
} from "../../src/bpf/records";
import { MAX_RT_PRIO } from "../../src/kernel/sched_attr";
import { ROOT } from "../helpers/rt";

let fromC: Record<string, number> & { kinds?: number[]; has?: number[]; dl_flags?: number[] };

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), "stalld-records-"));
  try {
    const src = join(dir, "layout.c");
    writeFileSync(
      src,
      `
#include <stdio.h>
#include <stddef.h>
#include <linux/types.h>
#include "stalld.h"
#define F(s, f) printf("\\"%s.%s\\": %zu,\\n", #s, #f, offsetof(struct s, f))
int main(void) {
	printf("{\\n");
	F(stalld_waiter, since_ns); F(stalld_waiter, tgid); F(stalld_waiter, cpu); F(stalld_waiter, prio); F(stalld_waiter, policy); F(stalld_waiter, flags);
	F(stalld_running, since_ns); F(stalld_running, pid); F(stalld_running, tgid); F(stalld_running, prio); F(stalld_running, policy);
	F(stalld_scan_rec, ns); F(stalld_scan_rec, kind); F(stalld_scan_rec, pid); F(stalld_scan_rec, tgid); F(stalld_scan_rec, cpu);
	F(stalld_scan_rec, prio); F(stalld_scan_rec, policy); F(stalld_scan_rec, flags); F(stalld_scan_cfg, report_ns); F(stalld_scan_cfg, cpus);
	F(stalld_dl_rec, runtime_ns); F(stalld_dl_rec, period_ns); F(stalld_dl_rec, cpu); F(stalld_dl_rec, flags);
	printf("\\"stalld_dl_rec.size\\": %zu, \\"dl_flags\\": [%d, %d, %d],\\n", sizeof(struct stalld_dl_rec), STALLD_DL_PRESENT, STALLD_DL_ACTIVE, STALLD_DL_KNOWS_ACTIVE);
	printf("\\"stalld_scan_rec.size\\": %zu, \\"stalld_scan_cfg.size\\": %zu, \\"kinds\\": [%d, %d, %d], \\"has\\": [%d, %d], \\"max_cpus\\": %d,\\n",
	       sizeof(struct stalld_scan_rec), sizeof(struct stalld_scan_cfg), STALLD_SCAN_HEADER, STALLD_SCAN_WAITER, STALLD_SCAN_RUNNING,
	       STALLD_SCAN_HAS_QUEUED, STALLD_SCAN_HAS_RQ, STALLD_MAX_CPUS);
	printf("\\"stalld_waiter.size\\": %zu, \\"stalld_running.size\\": %zu, \\"max_rt_prio\\": %d, \\"custom_slice\\": %d}\\n",
	       sizeof(struct stalld_waiter), sizeof(struct stalld_running), STALLD_MAX_RT_PRIO, STALLD_TASK_CUSTOM_SLICE);
	return 0;
}`,
    );
    const exe = join(dir, "layout");
    const cc = Bun.spawnSync(["cc", "-I", join(ROOT, "bpf"), "-o", exe, src], { stderr: "pipe" });
    if (cc.exitCode !== 0) throw new Error(`cc failed: ${cc.stderr}`);
    fromC = JSON.parse(Bun.spawnSync([exe]).stdout.toString());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe("record layout: bpf/stalld.h vs src/backends/records.ts", () => {
  test("struct stalld_waiter", () => {
    for (const [field, offset] of Object.entries(WAITER_LAYOUT))
      expect([field, fromC[`stalld_waiter.${field}`]]).toEqual([field, offset]);
  });

  test("struct stalld_running", () => {
    for (const [field, offset] of Object.entries(RUNNING_LAYOUT))
      expect([field, fromC[`stalld_running.${field}`]]).toEqual([field, offset]);
  });

  test("struct stalld_scan_rec and struct stalld_scan_cfg (task_scan)", () => {
    for (const [field, offset] of Object.entries(SCAN_LAYOUT))
      expect([field, fromC[`stalld_scan_rec.${field}`]]).toEqual([field, offset]);
    for (const [field, offset] of Object.entries(SCAN_CFG_LAYOUT))
      expect([field, fromC[`stalld_scan_cfg.${field}`]]).toEqual([field, offset]);
  });

  test("struct stalld_dl_rec (dl_server)", () => {
    for (const [field, offset] of Object.entries(DL_LAYOUT))
      expect([field, fromC[`stalld_dl_rec.${field}`]]).toEqual([field, offset]);
    expect(fromC.dl_flags as unknown as number[]).toEqual([DL_FLAG.present, DL_FLAG.active, DL_FLAG.knowsActive]);
  });

  test("constants", () => {
    expect(fromC.max_rt_prio).toBe(MAX_RT_PRIO);
    expect(fromC.custom_slice).toBe(TASK_FLAG.customSlice);
    expect(fromC.kinds as number[]).toEqual([SCAN_KIND.header, SCAN_KIND.waiter, SCAN_KIND.running]);
    expect(fromC.has as number[]).toEqual([SCAN_HAS.queued, SCAN_HAS.rq]);
    expect(fromC.max_cpus).toBe(MAX_CPUS);
  });

  test("the scan config bitmap marks exactly the monitored CPUs", () => {
    const cfg = encodeScanCfg(15_000_000_000n, [0, 3, 64, 1023, 5000]);
    const v = new DataView(cfg.buffer);
    expect(v.getBigUint64(0, true)).toBe(15_000_000_000n);
    expect(v.getBigUint64(8, true)).toBe(0b1001n);
    expect(v.getBigUint64(16, true)).toBe(1n);
    expect(v.getBigUint64(8 + 15 * 8, true)).toBe(1n << 63n);
  });

  test("the scan decoder reads a record C wrote", () => {
    const v = new DataView(new ArrayBuffer(40));
    v.setBigUint64(0, 2_500_000_000n, true);
    v.setUint32(8, 1, true);
    v.setUint32(12, 77, true);
    v.setUint32(16, 70, true);
    v.setUint32(20, 1, true);
    v.setInt32(24, 98, true);
    v.setUint32(28, 1, true);
    v.setUint32(32, 1, true);
    expect(decodeScan(v, 0)).toEqual({
      ns: 2_500_000_000n,
      kind: 1,
      pid: 77,
      tgid: 70,
      cpu: 1,
      prio: 98,
      policy: 1,
      flags: 1,
    });
  });

  test("the decoder reads what C wrote, little-endian, signed where signed", () => {
    const buf = new DataView(new ArrayBuffer(64));
    buf.setBigUint64(24 + 0, 123456789012345678n, true);
    buf.setUint32(24 + 8, 4242, true);
    buf.setUint32(24 + 12, 3, true);
    buf.setInt32(24 + 16, -1, true);
    buf.setUint32(24 + 20, 6, true);
    buf.setUint32(24 + 24, 1, true);
    expect(decodeWaiter(7, buf, 24)).toEqual({
      pid: 7,
      sinceNs: 123456789012345678n,
      tgid: 4242,
      cpu: 3,
      prio: -1,
      policy: 6,
      flags: 1,
    });
    expect(decodeRunning(1, buf, 24)).toEqual({
      cpu: 1,
      sinceNs: 123456789012345678n,
      pid: 4242,
      tgid: 3,
      prio: -1,
      policy: 6,
    });
  });
});

describe("the compiled object", () => {
  test("waiting_full is the only .bss variable, at offset 0 (the daemon reads it there)", () => {
    const out = Bun.spawnSync(["bpftool", "btf", "dump", "file", join(ROOT, "build/stalld.bpf.o")]).stdout.toString();
    const m = /DATASEC '\.bss' size=\d+ vlen=(\d+)\n\s+type_id=\d+ offset=(\d+) size=(\d+) \(VAR '(\w+)'\)/.exec(out);
    expect(m?.slice(1)).toEqual(["1", "0", "8", "waiting_full"]);
  });

  const sectionsOf = (obj: string) => {
    const sections = Bun.spawnSync(["llvm-objdump", "-h", join(ROOT, "build", obj)]).stdout.toString();
    return [...sections.matchAll(/\s((?:tp_btf|iter|fentry|fexit|kprobe|kretprobe|fmod_ret|raw_tp|tp)\/\S+)/g)]
      .map((m) => m[1]!)
      .sort();
  };

  test("queue_track has no fentry, fexit or kprobe program: tracepoints and iterators only", () => {
    expect(sectionsOf("stalld.bpf.o")).toEqual([
      "iter/task",
      "tp_btf/sched_migrate_task",
      "tp_btf/sched_process_exit",
      "tp_btf/sched_switch",
      "tp_btf/sched_wakeup",
      "tp_btf/sched_wakeup_new",
    ]);
  });

  test("task_scan has one iterator and nothing else", () => {
    expect(sectionsOf("task_scan.bpf.o")).toEqual(["iter/task"]);
  });
});
