// CPU isolation from the kernel command line: isolcpus, nohz_full, rcu_nocbs.
import { parseCpuList } from "./cpus";

export interface Isolation {
  isolcpus: number[];
  nohzFull: number[];
  rcuNocbs: number[];
  /** Values that could not be read as CPU lists. */
  unparsed: string[];
}

/** isolcpus may start with flags ("isolcpus=domain,managed_irq,2-7"); rcu_nocbs may be "all" or empty (all CPUs). */
export function parseIsolation(cmdline: string, nrCpus: number): Isolation {
  const out: Isolation = { isolcpus: [], nohzFull: [], rcuNocbs: [], unparsed: [] };
  const all = [...Array(nrCpus).keys()];
  for (const word of cmdline.trim().split(/\s+/)) {
    const m = /^(isolcpus|nohz_full|rcu_nocbs)(?:=(.*))?$/.exec(word);
    if (!m) continue;
    let value = m[2] ?? "";
    if (m[1] === "isolcpus")
      value = value
        .split(",")
        .filter((p) => !/^[a-z_]+$/.test(p))
        .join(",");
    let cpus: number[];
    try {
      cpus = value === "" || value === "all" ? (m[1] === "isolcpus" ? [] : all) : parseCpuList(value, nrCpus);
    } catch {
      out.unparsed.push(word);
      continue;
    }
    if (m[1] === "isolcpus") out.isolcpus = cpus;
    else if (m[1] === "nohz_full") out.nohzFull = cpus;
    else out.rcuNocbs = cpus;
  }
  return out;
}
