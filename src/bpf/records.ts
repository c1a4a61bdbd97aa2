// Decoder for the records of bpf/stalld.h. The layout lives there; this file
// mirrors it, and tests/unit/records.test.ts checks both against each other.

export const WAITER_LAYOUT = {
  size: 32,
  since_ns: 0,
  tgid: 8,
  cpu: 12,
  prio: 16,
  policy: 20,
  flags: 24,
} as const;

/** STALLD_TASK_* flags. */
export const TASK_FLAG = { customSlice: 1 } as const;

export const RUNNING_LAYOUT = {
  size: 24,
  since_ns: 0,
  pid: 8,
  tgid: 12,
  prio: 16,
  policy: 20,
} as const;

/** What every task record says about its task. */
export interface TaskFields {
  pid: number;
  tgid: number;
  cpu: number;
  prio: number;
  policy: number;
  flags: number;
}

export interface WaiterRecord extends TaskFields {
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

/** The task fields a waiter and a scan record share, at each layout's own offsets. */
function readTaskFields(
  view: DataView,
  offset: number,
  L: { tgid: number; cpu: number; prio: number; policy: number; flags: number },
) {
  return {
    tgid: view.getUint32(offset + L.tgid, true),
    cpu: view.getUint32(offset + L.cpu, true),
    prio: view.getInt32(offset + L.prio, true),
    policy: view.getUint32(offset + L.policy, true),
    flags: view.getUint32(offset + L.flags, true),
  };
}

export function decodeWaiter(pid: number, view: DataView, offset: number): WaiterRecord {
  return {
    pid,
    sinceNs: view.getBigUint64(offset + WAITER_LAYOUT.since_ns, true),
    ...readTaskFields(view, offset, WAITER_LAYOUT),
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

/** struct stalld_scan_rec (task_scan). */
export const SCAN_LAYOUT = {
  size: 40,
  ns: 0,
  kind: 8,
  pid: 12,
  tgid: 16,
  cpu: 20,
  prio: 24,
  policy: 28,
  flags: 32,
} as const;

export const SCAN_KIND = { header: 0, waiter: 1, running: 2 } as const;
export const SCAN_HAS = { queued: 1, rq: 2 } as const;
/** STALLD_MAX_CPUS: the CPUs the per-CPU programs know (task_scan's bitmap, dl_server's records). */
export const MAX_CPUS = 1024;

/** struct stalld_scan_cfg: report_ns then the monitored-CPU bitmap. */
export const SCAN_CFG_LAYOUT = { size: 8 + MAX_CPUS / 8, report_ns: 0, cpus: 8 } as const;

export interface ScanRecord extends TaskFields {
  kind: number;
  ns: bigint;
}

export function decodeScan(view: DataView, offset: number): ScanRecord {
  const L = SCAN_LAYOUT;
  return {
    ns: view.getBigUint64(offset + L.ns, true),
    kind: view.getUint32(offset + L.kind, true),
    pid: view.getUint32(offset + L.pid, true),
    ...readTaskFields(view, offset, L),
  };
}

export function encodeScanCfg(
  reportNs: bigint,
  cpus: readonly number[],
  out = new Uint8Array(SCAN_CFG_LAYOUT.size),
): Uint8Array {
  out.fill(0);
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  v.setBigUint64(SCAN_CFG_LAYOUT.report_ns, reportNs, true);
  for (const cpu of cpus) {
    if (cpu >= MAX_CPUS) continue;
    const at = SCAN_CFG_LAYOUT.cpus + (cpu >> 3);
    v.setUint8(at, v.getUint8(at) | (1 << (cpu & 7)));
  }
  return out;
}

/** struct stalld_dl_rec (dl_server). */
export const DL_LAYOUT = { size: 24, runtime_ns: 0, period_ns: 8, cpu: 16, flags: 20 } as const;
export const DL_FLAG = { present: 1, active: 2, knowsActive: 4 } as const;

export interface DlRecord {
  cpu: number;
  runtimeNs: number;
  periodNs: number;
  flags: number;
}

export function decodeDl(view: DataView, offset: number): DlRecord {
  const L = DL_LAYOUT;
  return {
    runtimeNs: Number(view.getBigUint64(offset + L.runtime_ns, true)),
    periodNs: Number(view.getBigUint64(offset + L.period_ns, true)),
    cpu: view.getUint32(offset + L.cpu, true),
    flags: view.getUint32(offset + L.flags, true),
  };
}
