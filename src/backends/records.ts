// Decoder for the records of bpf/stalld.h. The layout lives there; this file
// mirrors it, and tests/unit/records.test.ts checks both against each other.

export const WAITER_LAYOUT = {
  size: 24,
  since_ns: 0,
  tgid: 8,
  cpu: 12,
  prio: 16,
  policy: 20,
} as const;

export const RUNNING_LAYOUT = {
  size: 24,
  since_ns: 0,
  pid: 8,
  tgid: 12,
  prio: 16,
  policy: 20,
} as const;

/** Kernel prio below this is RT (0..99) or DEADLINE (-1). */
export const MAX_RT_PRIO = 100;

export interface WaiterRecord {
  pid: number;
  tgid: number;
  cpu: number;
  prio: number;
  policy: number;
  sinceNs: bigint;
}

export interface RunningRecord {
  cpu: number;
  pid: number;
  tgid: number;
  prio: number;
  policy: number;
  sinceNs: bigint;
}

export function decodeWaiter(pid: number, view: DataView, offset: number): WaiterRecord {
  const L = WAITER_LAYOUT;
  return {
    pid,
    sinceNs: view.getBigUint64(offset + L.since_ns, true),
    tgid: view.getUint32(offset + L.tgid, true),
    cpu: view.getUint32(offset + L.cpu, true),
    prio: view.getInt32(offset + L.prio, true),
    policy: view.getUint32(offset + L.policy, true),
  };
}

export function decodeRunning(cpu: number, view: DataView, offset: number): RunningRecord {
  const L = RUNNING_LAYOUT;
  return {
    cpu,
    sinceNs: view.getBigUint64(offset + L.since_ns, true),
    pid: view.getUint32(offset + L.pid, true),
    tgid: view.getUint32(offset + L.tgid, true),
    prio: view.getInt32(offset + L.prio, true),
    policy: view.getUint32(offset + L.policy, true),
  };
}
