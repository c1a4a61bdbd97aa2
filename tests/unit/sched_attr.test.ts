import { describe, expect, test } from "bun:test";
import {
  attrEqual,
  decodeSchedAttr,
  describeAttr,
  describeKernelPrio,
  encodeSchedAttr,
  kernelSchedOps,
  SCHED_ATTR_SIZE,
  SCHED_DEADLINE,
  SCHED_FIFO,
  SCHED_OTHER,
} from "../../src/kernel/sched_attr";

describe("struct sched_attr", () => {
  test("encodes the 48-byte kernel layout and decodes it back", () => {
    const attr = {
      policy: SCHED_DEADLINE,
      flags: 1n,
      nice: -3,
      priority: 0,
      runtimeNs: 20_000n,
      deadlineNs: 1_000_000_000n,
      periodNs: 1_000_000_000n,
    };
    const buf = encodeSchedAttr(attr);
    expect(buf.byteLength).toBe(SCHED_ATTR_SIZE);
    const v = new DataView(buf.buffer);
    expect(v.getUint32(0, true)).toBe(48);
    expect(v.getUint32(4, true)).toBe(6);
    expect(v.getBigUint64(24, true)).toBe(20_000n);
    expect(v.getBigUint64(40, true)).toBe(1_000_000_000n);
    expect(attrEqual(decodeSchedAttr(buf), attr)).toBe(true);
  });

  test("sched_getattr on this process reads a real policy", () => {
    const a = kernelSchedOps.get(process.pid);
    expect([SCHED_OTHER, SCHED_FIFO]).toContain(a.policy);
  });

  test("descriptions name the policy and its parameters", () => {
    expect(describeAttr({ policy: SCHED_FIFO, priority: 5, nice: 0, runtimeNs: 0n, periodNs: 0n })).toBe(
      "SCHED_FIFO prio 5",
    );
    expect(describeAttr({ policy: SCHED_OTHER, priority: 0, nice: -2, runtimeNs: 0n, periodNs: 0n })).toBe(
      "SCHED_OTHER nice -2",
    );
    expect(describeAttr({ policy: SCHED_DEADLINE, priority: 0, nice: 0, runtimeNs: 20n, periodNs: 100n })).toBe(
      "SCHED_DEADLINE 20/100 ns",
    );
    expect(describeKernelPrio(SCHED_FIFO, 89)).toBe("SCHED_FIFO prio 10");
    expect(describeKernelPrio(SCHED_DEADLINE, -1)).toBe("SCHED_DEADLINE");
    expect(describeKernelPrio(SCHED_OTHER, 120)).toBe("SCHED_OTHER nice 0");
  });
});
