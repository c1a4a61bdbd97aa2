// Facts about tasks and the kernel from /proc.
import { readFileSync } from "node:fs";

export interface TaskStat {
  pid: number;
  comm: string;
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

/**
 * Parses /proc/<pid>/stat. comm sits in parentheses and may itself contain
 * spaces and parentheses, so fields are counted from the last ')'.
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
    comm: text.slice(open + 1, close),
    state: rest[0] ?? "?",
    nice: field(19),
    starttime: field(22),
    cpu: field(39),
    rtPriority: field(40),
    policy: field(41),
    prio: field(18) + 100,
  };
  if (![stat.starttime, stat.nice, stat.cpu, stat.rtPriority, stat.policy, stat.prio].every(Number.isFinite))
    return null;
  return stat;
}

/** null when the task is gone (or its stat is unreadable). */
export function readTaskStat(pid: number): TaskStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
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

/** The thread group (process) id of a thread, from /proc/<pid>/status; null when gone. */
export function readTgid(pid: number): number | null {
  try {
    const m = /^Tgid:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}
