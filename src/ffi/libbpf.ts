// Thin typed bindings to the system libbpf.so.1. Pointer-returning calls give
// NULL and set errno; int-returning ones give -errno. Both become SysError.
import { dlopen, JSCallback, type Pointer, ptr } from "bun:ffi";
import { SysError } from "./errno";
import { cstr, errno, vsnprintf } from "./libc";

const lib = dlopen("libbpf.so.1", {
  libbpf_major_version: { args: [], returns: "u32" },
  libbpf_minor_version: { args: [], returns: "u32" },
  libbpf_set_print: { args: ["ptr"], returns: "ptr" },
  bpf_object__open_mem: { args: ["ptr", "u64", "ptr"], returns: "ptr" },
  bpf_object__load: { args: ["ptr"], returns: "i32" },
  bpf_object__close: { args: ["ptr"], returns: "void" },
  bpf_object__find_map_by_name: { args: ["ptr", "cstring"], returns: "ptr" },
  bpf_object__find_program_by_name: { args: ["ptr", "cstring"], returns: "ptr" },
  bpf_map__set_max_entries: { args: ["ptr", "u32"], returns: "i32" },
  bpf_map__fd: { args: ["ptr"], returns: "i32" },
  bpf_map__initial_value: { args: ["ptr", "ptr"], returns: "ptr" },
  bpf_program__attach: { args: ["ptr"], returns: "ptr" },
  bpf_program__attach_iter: { args: ["ptr", "ptr"], returns: "ptr" },
  bpf_link__fd: { args: ["ptr"], returns: "i32" },
  bpf_link__destroy: { args: ["ptr"], returns: "i32" },
  bpf_iter_create: { args: ["i32"], returns: "i32" },
  bpf_map_lookup_batch: { args: ["i32", "ptr", "ptr", "ptr", "ptr", "ptr", "ptr"], returns: "i32" },
  bpf_map_update_elem: { args: ["i32", "ptr", "ptr", "u64"], returns: "i32" },
  bpf_map_delete_elem: { args: ["i32", "ptr"], returns: "i32" },
  bpf_enable_stats: { args: ["i32"], returns: "i32" },
});
const b = lib.symbols;

export type BpfObject = Pointer & { readonly __brand: "bpf_object" };
export type BpfMap = Pointer & { readonly __brand: "bpf_map" };
export type BpfProgram = Pointer & { readonly __brand: "bpf_program" };
export type BpfLink = Pointer & { readonly __brand: "bpf_link" };

function checkInt(call: string, r: number): number {
  if (r < 0) throw new SysError(call, -r);
  return r;
}

function checkPtr<T>(call: string, p: unknown): T {
  if (p === null || p === undefined || p === 0) throw new SysError(call, errno());
  return p as T;
}

export function libbpfVersion(): string {
  return `${b.libbpf_major_version()}.${b.libbpf_minor_version()}`;
}

export type LibbpfLevel = "warn" | "info" | "debug";
const LEVELS: LibbpfLevel[] = ["warn", "info", "debug"];
let printCallback: JSCallback | null = null;
const printBuf = new Uint8Array(4096);

/** Route libbpf's own messages (verifier log included) to `sink`; null restores silence. */
export function setLibbpfPrint(sink: ((level: LibbpfLevel, msg: string) => void) | null): void {
  if (!sink) {
    b.libbpf_set_print(null);
    printCallback?.close();
    printCallback = null;
    return;
  }
  const cb = new JSCallback(
    (level: number, fmt: Pointer, args: Pointer) => {
      const n = vsnprintf(printBuf, fmt, args);
      const len = Math.min(Math.max(n, 0), printBuf.byteLength - 1);
      const text = Buffer.from(printBuf.subarray(0, len)).toString("utf8").replace(/\n+$/, "");
      if (text) sink(LEVELS[level] ?? "debug", text);
      return 0;
    },
    { args: ["i32", "ptr", "ptr"], returns: "i32" },
  );
  b.libbpf_set_print(cb.ptr);
  printCallback?.close();
  printCallback = cb;
}

/** struct bpf_object_open_opts (libbpf >= 1.0): its size, and where btf_custom_path sits. */
export const OPEN_OPTS_LAYOUT = { size: 80, btf_custom_path: 48 } as const;

export interface OpenOptions {
  /** Kernel BTF to relocate against instead of /sys/kernel/btf/vmlinux (libbpf copies the path). */
  btfPath?: string;
}

/** The object keeps pointing into `bytes`: the caller keeps it alive until close. */
export function openMem(bytes: Uint8Array, options: OpenOptions = {}): BpfObject {
  if (!options.btfPath)
    return checkPtr("bpf_object__open_mem", b.bpf_object__open_mem(ptr(bytes), bytes.byteLength, null));
  const path = Buffer.from(`${options.btfPath}\0`);
  const opts = new BigUint64Array(OPEN_OPTS_LAYOUT.size / 8);
  opts[0] = BigInt(OPEN_OPTS_LAYOUT.size);
  opts[OPEN_OPTS_LAYOUT.btf_custom_path / 8] = BigInt(ptr(path));
  return checkPtr("bpf_object__open_mem", b.bpf_object__open_mem(ptr(bytes), bytes.byteLength, ptr(opts)));
}

export function load(obj: BpfObject): void {
  checkInt("bpf_object__load", b.bpf_object__load(obj));
}

export function close(obj: BpfObject): void {
  b.bpf_object__close(obj);
}

export function findMap(obj: BpfObject, name: string): BpfMap {
  return checkPtr(`bpf_object__find_map_by_name(${name})`, b.bpf_object__find_map_by_name(obj, cstr(name)));
}

export function findProgram(obj: BpfObject, name: string): BpfProgram {
  return checkPtr(`bpf_object__find_program_by_name(${name})`, b.bpf_object__find_program_by_name(obj, cstr(name)));
}

export function setMaxEntries(map: BpfMap, n: number): void {
  checkInt("bpf_map__set_max_entries", b.bpf_map__set_max_entries(map, n));
}

export function mapFd(map: BpfMap): number {
  return checkInt("bpf_map__fd", b.bpf_map__fd(map));
}

/** After load, the live mmap of a global-data map (.bss): kernel-shared memory. */
export function mapInitialValue(map: BpfMap): { ptr: Pointer; size: number } {
  const size = new BigUint64Array(1);
  const p = checkPtr<Pointer>("bpf_map__initial_value", b.bpf_map__initial_value(map, ptr(size)));
  return { ptr: p, size: Number(size[0]) };
}

export function attach(prog: BpfProgram, name: string): BpfLink {
  return checkPtr(`attach ${name}`, b.bpf_program__attach(prog));
}

export function attachIter(prog: BpfProgram, name: string): BpfLink {
  return checkPtr(`attach iterator ${name}`, b.bpf_program__attach_iter(prog, null));
}

export function linkFd(link: BpfLink): number {
  return checkInt("bpf_link__fd", b.bpf_link__fd(link));
}

export function destroyLink(link: BpfLink): void {
  b.bpf_link__destroy(link);
}

export function iterCreate(linkFd: number): number {
  return checkInt("bpf_iter_create", b.bpf_iter_create(linkFd));
}

/**
 * One bpf_map_lookup_batch call. Returns the number of entries copied and
 * whether the walk is complete (ENOENT may come with the last entries).
 * ENOSPC (a bucket larger than `count`) is thrown for the caller to grow.
 */
export function lookupBatch(
  fd: number,
  inBatch: Uint8Array | null,
  outBatch: Uint8Array,
  keys: Uint8Array,
  values: Uint8Array,
  count: Uint32Array,
): { n: number; done: boolean } {
  const r = b.bpf_map_lookup_batch(
    fd,
    inBatch ? ptr(inBatch) : null,
    ptr(outBatch),
    ptr(keys),
    ptr(values),
    ptr(count),
    null,
  );
  if (r === 0) return { n: count[0]!, done: false };
  const e = -r;
  if (e === 2) return { n: count[0]!, done: true }; // ENOENT: end of map
  throw new SysError("bpf_map_lookup_batch", e);
}

export function updateElem(fd: number, key: Uint8Array, value: Uint8Array): void {
  checkInt("bpf_map_update_elem", b.bpf_map_update_elem(fd, ptr(key), ptr(value), 0));
}

export function deleteElem(fd: number, key: Uint8Array): boolean {
  const r = b.bpf_map_delete_elem(fd, ptr(key));
  if (r === 0) return true;
  if (-r === 2) return false;
  throw new SysError("bpf_map_delete_elem", -r);
}

const BPF_STATS_RUN_TIME = 0;

/** Turns on BPF run-time stats until the returned fd is closed (no global sysctl to restore). */
export function enableRunTimeStats(): number {
  return checkInt("bpf_enable_stats", b.bpf_enable_stats(BPF_STATS_RUN_TIME));
}
