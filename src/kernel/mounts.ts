// Pseudo filesystems some features need; mounted when missing, and unmounted
// on exit only if we mounted them.
import { readFileSync } from "node:fs";
import { mount, umount } from "../ffi/libc";

export const PSEUDO_FS = {
  debugfs: "/sys/kernel/debug",
  tracefs: "/sys/kernel/tracing",
  bpf: "/sys/fs/bpf",
} as const;
export type PseudoFs = keyof typeof PSEUDO_FS;

export function isMounted(fstype: PseudoFs, mounts = readFileSync("/proc/self/mounts", "utf8")): boolean {
  const target = PSEUDO_FS[fstype];
  return mounts.split("\n").some((line) => {
    const [, where, type] = line.split(" ");
    return where === target && type === fstype;
  });
}

/** Returns true when this call mounted it (the caller then owns the unmount). */
export function ensureMounted(fstype: PseudoFs): boolean {
  if (isMounted(fstype)) return false;
  mount(fstype === "bpf" ? "bpf" : "none", PSEUDO_FS[fstype], fstype);
  return true;
}

export function unmount(fstype: PseudoFs): void {
  umount(PSEUDO_FS[fstype]);
}
