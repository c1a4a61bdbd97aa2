// CPU lists in the kernel's format ("0-3,8,10-11") and the CPUs this machine has.
import { readFileSync } from "node:fs";

export class CpuListError extends Error {}

/**
 * Parses a cpu list. Every CPU must be below `nrCpus`; an empty list, a
 * reversed range, a duplicate-free but malformed token are all errors.
 */
export function parseCpuList(text: string, nrCpus: number): number[] {
  const s = text.trim();
  if (!s) throw new CpuListError("empty cpu list");
  const cpus = new Set<number>();
  for (const token of s.split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(token.trim());
    if (!m) throw new CpuListError(`invalid cpu list "${text}": bad element "${token}"`);
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    if (last < first) throw new CpuListError(`invalid cpu list "${text}": range ${token} goes backwards`);
    if (last >= nrCpus)
      throw new CpuListError(
        `invalid cpu list "${text}": cpu ${last} does not exist (this machine has cpus 0-${nrCpus - 1})`,
      );
    for (let c = first; c <= last; c++) cpus.add(c);
  }
  return [...cpus].sort((a, b) => a - b);
}

/** Formats sorted CPUs back into the compact kernel form. */
export function formatCpuList(cpus: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < cpus.length; ) {
    let j = i;
    while (j + 1 < cpus.length && cpus[j + 1] === cpus[j]! + 1) j++;
    out.push(j === i ? `${cpus[i]}` : `${cpus[i]}-${cpus[j]}`);
    i = j + 1;
  }
  return out.join(",");
}

function readSysCpuList(name: string): number[] {
  const text = readFileSync(`/sys/devices/system/cpu/${name}`, "utf8");
  return parseCpuList(text, Number.MAX_SAFE_INTEGER);
}

/** CPUs the kernel may ever bring up (per-CPU map sizes). */
export function possibleCpus(): number[] {
  return readSysCpuList("possible");
}

export function onlineCpus(): number[] {
  return readSysCpuList("online");
}
