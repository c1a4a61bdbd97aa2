// Whether the running kernel is PREEMPT_RT: /sys/kernel/realtime (a file only
// RT kernels have, "1"), or PREEMPT_RT in uname -v.
import { readFileSync } from "node:fs";

/** The decision, over the two facts (pure, for doctor and tests). */
export function isPreemptRt(realtimeFile: string | null, unameVersion: string): boolean {
  return realtimeFile?.trim() === "1" || /\bPREEMPT_RT\b/.test(unameVersion);
}

const readOr = (path: string): string | null => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
};

/** The running kernel. */
export function runningPreemptRt(): boolean {
  return isPreemptRt(readOr("/sys/kernel/realtime"), readOr("/proc/sys/kernel/version") ?? "");
}
