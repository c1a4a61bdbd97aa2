// Scheduler features (sched/features). Under kernel lockdown that debugfs
// file cannot even be read, but sched/debug prints `.sysctl_sched_features`
// as a bitmask; the bit of a feature is its value in the kernel's anonymous
// `__SCHED_FEAT_*` enum, which the kernel's BTF carries.
import { readFileSync, writeFileSync } from "node:fs";
import { clockResolutionNs } from "../ffi/libc";

export const FEATURE_PATHS = {
  features: "/sys/kernel/debug/sched/features",
  schedDebug: ["/sys/kernel/debug/sched/debug", "/proc/sched_debug"],
  btf: "/sys/kernel/btf/vmlinux",
};

const BTF_MAGIC = 0xeb9f;
const KIND = { INT: 1, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FUNC_PROTO: 13, VAR: 14, DATASEC: 15, DECL_TAG: 17, ENUM64: 19 };

/** Bytes that follow a btf_type of this kind (with vlen members). */
function trailing(kind: number, vlen: number): number {
  switch (kind) {
    case KIND.INT: case KIND.VAR: case KIND.DECL_TAG: return 4;
    case KIND.ARRAY: return 12;
    case KIND.STRUCT: case KIND.UNION: case KIND.DATASEC: case KIND.ENUM64: return vlen * 12;
    case KIND.ENUM: case KIND.FUNC_PROTO: return vlen * 8;
    default: return 0;
  }
}

/** Value of the enum member `name` in raw BTF, or null. Anonymous enums count. */
export function btfEnumValue(name: string, btf: Uint8Array): number | null {
  const dv = new DataView(btf.buffer, btf.byteOffset, btf.byteLength);
  if (btf.byteLength < 24 || dv.getUint16(0, true) !== BTF_MAGIC) return null;
  const hdrLen = dv.getUint32(4, true);
  const typeStart = hdrLen + dv.getUint32(8, true);
  const typeEnd = typeStart + dv.getUint32(12, true);
  const strStart = hdrLen + dv.getUint32(16, true);
  const strEnd = strStart + dv.getUint32(20, true);
  // Offsets (relative to the string section) where exactly `name` is stored.
  const needle = Buffer.from(`\0${name}\0`, "latin1");
  const strings = Buffer.from(btf.buffer, btf.byteOffset + strStart, strEnd - strStart);
  const offsets = new Set<number>();
  for (let i = strings.indexOf(needle); i >= 0; i = strings.indexOf(needle, i + 1)) offsets.add(i + 1);
  if (!offsets.size) return null;
  for (let off = typeStart; off + 12 <= typeEnd; ) {
    const info = dv.getUint32(off + 4, true);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const body = off + 12;
    if (kind === KIND.ENUM || kind === KIND.ENUM64) {
      const size = kind === KIND.ENUM ? 8 : 12;
      for (let m = 0; m < vlen; m++) {
        const at = body + m * size;
        if (!offsets.has(dv.getUint32(at, true))) continue;
        if (kind === KIND.ENUM) return dv.getInt32(at + 4, true);
        return Number((BigInt(dv.getUint32(at + 8, true)) << 32n) | BigInt(dv.getUint32(at + 4, true)));
      }
    }
    off = body + trailing(kind, vlen);
  }
  return null;
}

/** Reads the kernel's BTF (~6 MB) each call and keeps nothing: it is needed once, at start. */
export function kernelBtfEnumValue(name: string, path = FEATURE_PATHS.btf): number | null {
  try {
    return btfEnumValue(name, readFileSync(path));
  } catch {
    return null;
  }
}

/** sched/features: space-separated names, NO_X meaning X is off. */
export function parseFeaturesFile(text: string): Map<string, boolean> {
  const m = new Map<string, boolean>();
  for (const w of text.split(/\s+/).filter(Boolean)) {
    if (w.startsWith("NO_")) m.set(w.slice(3), false);
    else m.set(w, true);
  }
  return m;
}

export function parseSysctlSchedFeatures(schedDebug: string): number | null {
  const m = /^\s*\.sysctl_sched_features\s*:\s*(\d+)\s*$/m.exec(schedDebug);
  return m ? Number(m[1]) : null;
}

export interface FeatureState {
  state: "on" | "off" | "unknown";
  /** Where the answer came from. */
  source: string;
  /** Why it is unknown, or how it was read. */
  detail: string;
}

function errCode(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
}

export function readFeature(
  name: string,
  paths = FEATURE_PATHS,
  enumValue: (n: string) => number | null = (n) => kernelBtfEnumValue(n, paths.btf),
): FeatureState {
  let featuresWhy: string;
  try {
    const on = parseFeaturesFile(readFileSync(paths.features, "utf8")).get(name);
    if (on !== undefined) return { state: on ? "on" : "off", source: paths.features, detail: "read from sched/features" };
    featuresWhy = `${name} not listed in ${paths.features}`;
  } catch (e) {
    const code = errCode(e);
    featuresWhy = `${paths.features} unreadable (${code}${code === "EPERM" ? ", kernel lockdown?" : ""})`;
  }
  let mask: number | null = null;
  let source = "";
  for (const p of paths.schedDebug) {
    try {
      mask = parseSysctlSchedFeatures(readFileSync(p, "utf8"));
      source = p;
      if (mask !== null) break;
    } catch {
      // try the next one
    }
  }
  if (mask === null) return { state: "unknown", source: "", detail: `${featuresWhy} and no .sysctl_sched_features in ${paths.schedDebug.join(" or ")}` };
  const bit = enumValue(`__SCHED_FEAT_${name}`);
  if (bit === null) return { state: "unknown", source, detail: `${featuresWhy} and no BTF enum __SCHED_FEAT_${name}` };
  const on = Math.floor(mask / 2 ** bit) % 2 === 1;
  return { state: on ? "on" : "off", source: `${source} .sysctl_sched_features bit ${bit}`, detail: featuresWhy };
}

/** Writes X or NO_X to sched/features. Throws with the errno name. */
export function setFeature(name: string, on: boolean, path = FEATURE_PATHS.features): void {
  try {
    writeFileSync(path, on ? name : `NO_${name}`);
  } catch (e) {
    throw new Error(`writing ${on ? "" : "NO_"}${name} to ${path}: ${errCode(e)}`);
  }
}

const CLOCK_MONOTONIC_COARSE = 6;

/** The scheduler tick: the coarse clock advances once per jiffy, so its resolution is 1/HZ. */
export function tickNs(): number {
  return clockResolutionNs(CLOCK_MONOTONIC_COARSE);
}
