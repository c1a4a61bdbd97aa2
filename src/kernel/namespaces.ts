// Where stalld stands, as a container sees it. BPF and sched_setattr work on
// the host's tasks; stalld reads their /proc entries by the pids the kernel
// reports (root-namespace pids), so it must run in the host's pid namespace.
// And it writes sched_rt_runtime_us, which a container's read-only /proc/sys
// refuses.
import { closeSync, constants as fsc, openSync, readlinkSync } from "node:fs";

/** The initial pid namespace's inode (PROC_PID_INIT_INO, fixed since Linux 3.8). */
const PROC_PID_INIT_INO = 4026531836;

/** Whether this process is in the host's pid namespace; null when /proc cannot say. */
export function inInitialPidNamespace(link = "/proc/self/ns/pid"): boolean | null {
  try {
    const m = /^pid:\[(\d+)\]$/.exec(readlinkSync(link));
    return m ? Number(m[1]) === PROC_PID_INIT_INO : null;
  } catch {
    return null;
  }
}

/** Why a file cannot be opened for writing (EROFS: a read-only /proc/sys), or null; nothing is written. */
export function notWritable(path: string): string | null {
  try {
    closeSync(openSync(path, fsc.O_WRONLY | fsc.O_NONBLOCK));
    return null;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  }
}

export const HOST_PID_REMEDY =
  "run it in the host's pid namespace: --pid=host (podman, docker) or hostPID: true (Kubernetes)";
export const PRIVILEGED_REMEDY =
  "run it privileged: --privileged (podman, docker) or securityContext.privileged: true (Kubernetes)";
