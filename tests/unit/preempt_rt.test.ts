// Whether the kernel is PREEMPT_RT decides stalld's own scheduling there (self_sched.ts).
import { expect, test } from "bun:test";
import { isPreemptRt } from "../../src/kernel/preempt_rt";

test("PREEMPT_RT from /sys/kernel/realtime or uname -v; PREEMPT_DYNAMIC and PREEMPT are not it", () => {
  expect(isPreemptRt("1\n", "#1 SMP Debian 6.12.118-1")).toBe(true);
  expect(isPreemptRt(null, "#1 SMP PREEMPT_RT Debian 6.1.158-1 (2025-11-09)")).toBe(true);
  expect(isPreemptRt(null, "#1 SMP PREEMPT_DYNAMIC Debian 6.12.118-1")).toBe(false);
  expect(isPreemptRt("0\n", "#1 SMP PREEMPT Debian")).toBe(false);
  expect(isPreemptRt(null, "")).toBe(false);
});
