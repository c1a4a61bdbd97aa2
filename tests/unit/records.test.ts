// The record layout lives in bpf/stalld.h; the decoder mirrors it. Compile the
// header with the system compiler and compare every size and offset.
import { beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeRunning, decodeWaiter, MAX_RT_PRIO, RUNNING_LAYOUT, WAITER_LAYOUT } from "../../src/backends/records";
import { ROOT } from "../helpers/rt";

let fromC: Record<string, number>;

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), "stalld-records-"));
  const src = join(dir, "layout.c");
  writeFileSync(src, `
#include <stdio.h>
#include <stddef.h>
#include <linux/types.h>
#include "stalld.h"
#define F(s, f) printf("\\"%s.%s\\": %zu,\\n", #s, #f, offsetof(struct s, f))
int main(void) {
	printf("{\\n");
	F(stalld_waiter, since_ns); F(stalld_waiter, tgid); F(stalld_waiter, cpu); F(stalld_waiter, prio); F(stalld_waiter, policy);
	F(stalld_running, since_ns); F(stalld_running, pid); F(stalld_running, tgid); F(stalld_running, prio); F(stalld_running, policy);
	printf("\\"stalld_waiter.size\\": %zu, \\"stalld_running.size\\": %zu, \\"max_rt_prio\\": %d}\\n",
	       sizeof(struct stalld_waiter), sizeof(struct stalld_running), STALLD_MAX_RT_PRIO);
	return 0;
}`);
  const exe = join(dir, "layout");
  const cc = Bun.spawnSync(["cc", "-I", join(ROOT, "bpf"), "-o", exe, src], { stderr: "pipe" });
  if (cc.exitCode !== 0) throw new Error(`cc failed: ${cc.stderr}`);
  fromC = JSON.parse(Bun.spawnSync([exe]).stdout.toString());
});

describe("record layout: bpf/stalld.h vs src/backends/records.ts", () => {
  test("struct stalld_waiter", () => {
    for (const [field, offset] of Object.entries(WAITER_LAYOUT)) expect([field, fromC[`stalld_waiter.${field}`]]).toEqual([field, offset]);
  });

  test("struct stalld_running", () => {
    for (const [field, offset] of Object.entries(RUNNING_LAYOUT)) expect([field, fromC[`stalld_running.${field}`]]).toEqual([field, offset]);
  });

  test("constants", () => {
    expect(fromC.max_rt_prio).toBe(MAX_RT_PRIO);
  });

  test("the decoder reads what C wrote, little-endian, signed where signed", () => {
    const buf = new DataView(new ArrayBuffer(48));
    buf.setBigUint64(24 + 0, 123456789012345678n, true);
    buf.setUint32(24 + 8, 4242, true);
    buf.setUint32(24 + 12, 3, true);
    buf.setInt32(24 + 16, -1, true);
    buf.setUint32(24 + 20, 6, true);
    expect(decodeWaiter(7, buf, 24)).toEqual({ pid: 7, sinceNs: 123456789012345678n, tgid: 4242, cpu: 3, prio: -1, policy: 6 });
    expect(decodeRunning(1, buf, 24)).toEqual({ cpu: 1, sinceNs: 123456789012345678n, pid: 4242, tgid: 3, prio: -1, policy: 6 });
  });
});

describe("the compiled object", () => {
  test("waiting_full is the only .bss variable, at offset 0 (the daemon reads it there)", () => {
    const out = Bun.spawnSync(["bpftool", "btf", "dump", "file", join(ROOT, "build/stalld.bpf.o")]).stdout.toString();
    const m = /DATASEC '\.bss' size=\d+ vlen=(\d+)\n\s+type_id=\d+ offset=(\d+) size=(\d+) \(VAR '(\w+)'\)/.exec(out);
    expect(m?.slice(1)).toEqual(["1", "0", "8", "waiting_full"]);
  });

  test("has no fentry, fexit or kprobe program: tracepoints and iterators only", () => {
    const sections = Bun.spawnSync(["llvm-objdump", "-h", join(ROOT, "build/stalld.bpf.o")]).stdout.toString();
    const progs = [...sections.matchAll(/\s(tp_btf\/\S+|iter\/\S+|fentry\/\S+|fexit\/\S+|kprobe\/\S+|kretprobe\/\S+|fmod_ret\/\S+)/g)].map((m) => m[1]!);
    expect(progs.sort()).toEqual(["iter/task", "tp_btf/sched_migrate_task", "tp_btf/sched_process_exit", "tp_btf/sched_switch", "tp_btf/sched_wakeup", "tp_btf/sched_wakeup_new"]);
  });
});
