// Facts about tasks and the kernel from /proc.
import { readFileSync } from "node:fs";

export interface TaskStat {
  pid: number;
  /** The name, decoded as UTF-8 (for display: it may hold any byte but NUL, so escape it before it is shown). */
  comm: string;
  /** The name's bytes exactly, one char per byte (latin1): for comparing with what the kernel printed elsewhere. */
  rawComm: string;
  /** PF_* flags (field 9): PF_KTHREAD marks a kernel thread. */
  flags: number;
  /** R running/runnable, S sleeping, D disk sleep, T stopped, Z zombie, ... */
  state: string;
  /** CPU it last ran on, or is queued on. */
  cpu: number;
  /** Boot-relative start time in clock ticks: with pid, identifies the task. */
  starttime: number;
  nice: number;
  rtPriority: number;
  policy: number;
  /** The kernel's prio now, PI boosting included (field 18 + 100): DEADLINE -1, RT 0-99, fair 100-139. */
  prio: number;
}

/** A kernel thread: users cannot set this flag nor rename such a thread. */
export const PF_KTHREAD = 0x00200000;

/**
 * Parses /proc/<pid>/stat, as bytes read one char per byte (latin1), or as
 * text. comm sits in parentheses and may itself contain spaces, parentheses
 * and newlines, so fields are counted from the last ')'.
 */
export function parseTaskStat(text: string): TaskStat | null {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return null;
  const pid = Number(text.slice(0, open).trim());
  const rest = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  // rest[0] is field 3 (state); field N is rest[N - 3].
  const field = (n: number) => Number(rest[n - 3]);
  if (!Number.isInteger(pid) || rest.length < 41 - 2) return null;
  const stat: TaskStat = {
    pid,
    comm: Buffer.from(text.slice(open + 1, close), "latin1").toString("utf8"),
    rawComm: text.slice(open + 1, close),
    flags: field(9),
    state: rest[0] ?? "?",
    nice: field(19),
    starttime: field(22),
    cpu: field(39),
    rtPriority: field(40),
    policy: field(41),
    prio: field(18) + 100,
  };
  if (
    ![stat.flags, stat.starttime, stat.nice, stat.cpu, stat.rtPriority, stat.policy, stat.prio].every(Number.isFinite)
  )
    return null;
  return stat;
}

/** null when the task is gone (or its stat is unreadable). */
export function readTaskStat(pid: number): TaskStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return null;
  }
  return parseTaskStat(text);
}

/** CPU time (ns) the task has run, from /proc/<pid>/schedstat; null when gone or unavailable. */
export function readCpuTimeNs(pid: number): number | null {
  try {
    const v = Number(readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")[0]);
    return Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}

export function readProcNumber(path: string): number {
  const v = Number(readFileSync(path, "utf8").trim());
  if (!Number.isFinite(v)) throw new Error(`${path}: not a number`);
  return v;
}

export function pidMax(): number {
  return readProcNumber("/proc/sys/kernel/pid_max");
}

export function kernelRelease(): string {
  return readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
}

/** A task's name from /proc/<pid>/comm (a kworker's carries its workqueue); null when it is gone. */
export function readComm(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return null;
  }
}

/** /proc/<pid>/status (its Name line is escaped by the kernel); null when the task is gone. */
export function readStatus(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/status`, "latin1");
  } catch {
    return null;
  }
}
