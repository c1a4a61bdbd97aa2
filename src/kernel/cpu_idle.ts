// Per-CPU idle time from /proc/stat: a CPU that idled since the last pass had
// an empty run queue then, so nothing on it can have waited longer than that.
import { ProcFile } from "./proc_file";

/** Idle + iowait ticks (USER_HZ) per CPU number. */
export function parseIdleTicks(procStat: string): Map<number, number> {
  const idle = new Map<number, number>();
  for (const line of procStat.split("\n")) {
    const m = /^cpu(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const f = m[2]!.trim().split(/\s+/).map(Number);
    // user nice system idle iowait ...
    idle.set(Number(m[1]), (f[3] ?? 0) + (f[4] ?? 0));
  }
  return idle;
}

const procStat = new ProcFile("/proc/stat");

export function readIdleTicks(): Map<number, number> {
  return parseIdleTicks(procStat.read());
}
