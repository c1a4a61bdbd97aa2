// struct sched_attr (48 bytes, SCHED_ATTR_SIZE_VER0), the scheduling policies
// and their names, and the two syscalls behind an interface.
import { schedGetattr, schedSetattr } from "../ffi/libc";

export const SCHED_OTHER = 0;
export const SCHED_FIFO = 1;
export const SCHED_RR = 2;
export const SCHED_BATCH = 3;
export const SCHED_IDLE = 5;
export const SCHED_DEADLINE = 6;
export const SCHED_EXT = 7;
export const SCHED_FLAG_RESET_ON_FORK = 0x01n;

/** Kernel prio below this is RT (0..99) or DEADLINE (-1); bpf/stalld.h has the same. */
export const MAX_RT_PRIO = 100;

const NAMES: Record<number, string> = {
  [SCHED_OTHER]: "SCHED_OTHER",
  [SCHED_FIFO]: "SCHED_FIFO",
  [SCHED_RR]: "SCHED_RR",
  [SCHED_BATCH]: "SCHED_BATCH",
  [SCHED_IDLE]: "SCHED_IDLE",
  [SCHED_DEADLINE]: "SCHED_DEADLINE",
  [SCHED_EXT]: "SCHED_EXT",
};

export function policyName(policy: number): string {
  return NAMES[policy] ?? `policy ${policy}`;
}

/** Policies of the fair class (EEVDF): their sched_runtime is a slice, not a budget. */
export function isFairPolicy(policy: number): boolean {
  return policy === SCHED_OTHER || policy === SCHED_BATCH || policy === SCHED_IDLE;
}

export const SCHED_ATTR_SIZE = 48;

export interface SchedAttr {
  policy: number;
  flags: bigint;
  nice: number;
  priority: number;
  runtimeNs: bigint;
  deadlineNs: bigint;
  periodNs: bigint;
}

export function encodeSchedAttr(a: SchedAttr, out = new Uint8Array(SCHED_ATTR_SIZE)): Uint8Array {
  const v = new DataView(out.buffer, out.byteOffset, SCHED_ATTR_SIZE);
  v.setUint32(0, SCHED_ATTR_SIZE, true);
  v.setUint32(4, a.policy, true);
  v.setBigUint64(8, a.flags, true);
  v.setInt32(16, a.nice, true);
  v.setUint32(20, a.priority, true);
  v.setBigUint64(24, a.runtimeNs, true);
  v.setBigUint64(32, a.deadlineNs, true);
  v.setBigUint64(40, a.periodNs, true);
  return out;
}

export function decodeSchedAttr(buf: Uint8Array): SchedAttr {
  const v = new DataView(buf.buffer, buf.byteOffset, SCHED_ATTR_SIZE);
  return {
    policy: v.getUint32(4, true),
    flags: v.getBigUint64(8, true),
    nice: v.getInt32(16, true),
    priority: v.getUint32(20, true),
    runtimeNs: v.getBigUint64(24, true),
    deadlineNs: v.getBigUint64(32, true),
    periodNs: v.getBigUint64(40, true),
  };
}

/** "SCHED_FIFO prio 1", "SCHED_OTHER nice 0", "SCHED_DEADLINE 20000/1000000000 ns". */
export function describeAttr(a: Pick<SchedAttr, "policy" | "nice" | "priority" | "runtimeNs" | "periodNs">): string {
  switch (a.policy) {
    case SCHED_FIFO:
    case SCHED_RR:
      return `${policyName(a.policy)} prio ${a.priority}`;
    case SCHED_DEADLINE:
      return `${policyName(a.policy)} ${a.runtimeNs}/${a.periodNs} ns`;
    default:
      return `${policyName(a.policy)} nice ${a.nice}`;
  }
}

/** Kernel prio (as in the BPF records) to a short text: "FIFO 1", "DL", "OTHER". */
export function describeKernelPrio(policy: number, prio: number): string {
  if (policy === SCHED_FIFO || policy === SCHED_RR) return `${policyName(policy)} prio ${99 - prio}`;
  if (prio < 0) return "SCHED_DEADLINE";
  if (prio < 100) return `${policyName(policy)} (RT prio ${99 - prio} by priority inheritance)`;
  return `${policyName(policy)} nice ${prio - 120}`;
}

export function attrEqual(a: SchedAttr, b: SchedAttr): boolean {
  return (
    a.policy === b.policy &&
    a.flags === b.flags &&
    a.nice === b.nice &&
    a.priority === b.priority &&
    a.runtimeNs === b.runtimeNs &&
    a.deadlineNs === b.deadlineNs &&
    a.periodNs === b.periodNs
  );
}

/** The two syscalls, behind an interface so decisions can be tested with a fake. */
export interface SchedOps {
  get(pid: number): SchedAttr;
  set(pid: number, attr: SchedAttr): void;
}

export const kernelSchedOps: SchedOps = {
  get(pid) {
    const buf = new Uint8Array(SCHED_ATTR_SIZE);
    schedGetattr(pid, buf);
    return decodeSchedAttr(buf);
  },
  set(pid, attr) {
    schedSetattr(pid, encodeSchedAttr(attr));
  },
};
