// CPU pressure (PSI): /proc/pressure/cpu's "some total" is the time, in us,
// during which some runnable task waited for a CPU, averaged over CPUs by
// their busy time. A task that waited through a whole interval adds at least
// interval / CPUs to it.
import { ProcFile } from "./proc_file";

export function parseCpuSomeTotalUs(text: string): number | null {
  const m = /^some .*\btotal=(\d+)\s*$/m.exec(text);
  return m ? Number(m[1]) : null;
}

const pressure = new ProcFile("/proc/pressure/cpu");

/** null where the kernel has no PSI (CONFIG_PSI off, or psi=0: the read fails with EOPNOTSUPP). */
export function readCpuSomeTotalUs(): number | null {
  try {
    return parseCpuSomeTotalUs(pressure.read());
  } catch {
    return null;
  }
}
