// Scheduler features (sched/features). Under kernel lockdown that debugfs
// file cannot even be read, but sched/debug prints `.sysctl_sched_features`
// as a bitmask; the bit of a feature is its value in the kernel's anonymous
// `__SCHED_FEAT_*` enum, which the kernel's BTF carries.
import { closeSync, openSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { clockResolutionNs } from "../ffi/libc";
import { selfProgram } from "../self";

export const FEATURE_PATHS = {
  features: "/sys/kernel/debug/sched/features",
  schedDebug: ["/sys/kernel/debug/sched/debug", "/proc/sched_debug"],
  btf: "/sys/kernel/btf/vmlinux",
};

const BTF_MAGIC = 0xeb9f;
const KIND = {
  INT: 1,
  ARRAY: 3,
  STRUCT: 4,
  UNION: 5,
  ENUM: 6,
  FUNC_PROTO: 13,
  VAR: 14,
  DATASEC: 15,
  DECL_TAG: 17,
  ENUM64: 19,
};

/** Bytes that follow a btf_type of this kind (with vlen members). */
function trailing(kind: number, vlen: number): number {
  switch (kind) {
    case KIND.INT:
    case KIND.VAR:
    case KIND.DECL_TAG:
      return 4;
    case KIND.ARRAY:
      return 12;
    case KIND.STRUCT:
    case KIND.UNION:
    case KIND.DATASEC:
    case KIND.ENUM64:
      return vlen * 12;
    case KIND.ENUM:
    case KIND.FUNC_PROTO:
      return vlen * 8;
    default:
      return 0;
  }
}

/**
 * A moving window over BTF bytes: the kernel's BTF is ~6 MB, and reading it
 * whole into the JS heap left ~11 MB resident for good (measured). 256 KB at a time.
 */
class BtfWindow {
  private readonly buf = Buffer.alloc(256 * 1024);
  private start = 0;
  private len = 0;

  constructor(private readonly readAt: (into: Buffer, pos: number) => number) {}

  private ensure(pos: number, need: number): boolean {
    if (pos < this.start || pos + need > this.start + this.len) {
      this.start = pos;
      this.len = this.readAt(this.buf, pos);
    }
    return pos + need <= this.start + this.len;
  }

  /** The window from `pos`; at least `need` bytes or null at the end. */
  at(pos: number, need: number): Buffer | null {
    return this.ensure(pos, need) ? this.buf.subarray(pos - this.start, this.len) : null;
  }

  /** No view object per read: the type walk reads a few hundred thousand of these. */
  u32(pos: number): number {
    if (!this.ensure(pos, 4)) throw new RangeError("BTF ends early");
    return this.buf.readUInt32LE(pos - this.start);
  }

  i32(pos: number): number {
    return this.u32(pos) | 0;
  }
}

/** Value of the enum member `name` in raw BTF, or null. Anonymous enums count. */
export function btfEnumValue(name: string, btf: Uint8Array | ((into: Buffer, pos: number) => number)): number | null {
  const w = new BtfWindow(
    typeof btf === "function"
      ? btf
      : (into, pos) =>
          pos >= btf.byteLength
            ? 0
            : Buffer.from(btf.buffer, btf.byteOffset + pos, Math.min(into.byteLength, btf.byteLength - pos)).copy(into),
  );
  try {
    const head = w.at(0, 24);
    if (!head || head.readUInt16LE(0) !== BTF_MAGIC) return null;
    const hdrLen = head.readUInt32LE(4);
    const typeStart = hdrLen + head.readUInt32LE(8);
    const typeEnd = typeStart + head.readUInt32LE(12);
    const strStart = hdrLen + head.readUInt32LE(16);
    const strEnd = strStart + head.readUInt32LE(20);
    // Offsets (relative to the string section) where exactly `name` is stored; windows overlap by the needle.
    const needle = Buffer.from(`\0${name}\0`, "latin1");
    const offsets = new Set<number>();
    for (let pos = strStart; pos < strEnd; ) {
      const chunk = w.at(pos, 1);
      if (!chunk) break;
      const view = chunk.subarray(0, Math.min(chunk.length, strEnd - pos));
      for (let i = view.indexOf(needle); i >= 0; i = view.indexOf(needle, i + 1)) offsets.add(pos + i + 1 - strStart);
      if (pos + view.length >= strEnd) break;
      pos += Math.max(1, view.length - needle.length + 1);
    }
    if (!offsets.size) return null;
    for (let off = typeStart; off + 12 <= typeEnd; ) {
      const info = w.u32(off + 4);
      const kind = (info >>> 24) & 0x1f;
      const vlen = info & 0xffff;
      const body = off + 12;
      if (kind === KIND.ENUM || kind === KIND.ENUM64) {
        const size = kind === KIND.ENUM ? 8 : 12;
        for (let m = 0; m < vlen; m++) {
          const at = body + m * size;
          if (!offsets.has(w.u32(at))) continue;
          if (kind === KIND.ENUM) return w.i32(at + 4);
          return Number((BigInt(w.u32(at + 8)) << 32n) | BigInt(w.u32(at + 4)));
        }
      }
      off = body + trailing(kind, vlen);
    }
    return null;
  } catch (e) {
    if (e instanceof RangeError) return null;
    throw e;
  }
}

/** Streams the kernel's BTF (~6 MB) through a small window each call and keeps nothing: it is needed once, at start. */
export function kernelBtfEnumValue(name: string, path = FEATURE_PATHS.btf): number | null {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return null;
  }
  try {
    return btfEnumValue(name, (into, pos) => readSync(fd, into, 0, into.byteLength, pos));
  } catch {
    return null;
  } finally {
    closeSync(fd);
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
    if (on !== undefined)
      return { state: on ? "on" : "off", source: paths.features, detail: "read from sched/features" };
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
  if (mask === null)
    return {
      state: "unknown",
      source: "",
      detail: `${featuresWhy} and no .sysctl_sched_features in ${paths.schedDebug.join(" or ")}`,
    };
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

/** The hidden command that prints a kernel BTF enum value (main.ts runs it in a child). */
export const BTF_ENUM_COMMAND = "__btf-enum";

/**
 * The BTF enum value looked up by a short-lived copy of stalld: walking the
 * kernel's BTF (~6 MB, ~130,000 types) in the daemon itself left 8-10 MB of
 * memory resident for good (measured); the copy takes ~50 ms, once, at start.
 */
export function btfEnumValueInChild(name: string): number | null {
  const r = Bun.spawnSync([...selfProgram(), BTF_ENUM_COMMAND, name], {
    stdout: "pipe",
    stderr: "ignore",
    timeout: 10_000,
    env: { PATH: "/usr/bin:/bin" },
  });
  const out = r.stdout.toString().trim();
  return r.exitCode === 0 && /^-?\d+$/.test(out) ? Number(out) : null;
}
