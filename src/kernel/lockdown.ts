// Kernel lockdown mode, from securityfs. Where securityfs is not mounted it is
// mounted on a private temporary directory for the read and unmounted at once.
import { existsSync, mkdtempSync, readFileSync, rmdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mount, umount } from "../ffi/libc";

export const LOCKDOWN_PATH = "/sys/kernel/security/lockdown";

/** "none [integrity] confidentiality" -> "integrity". */
export function parseLockdown(text: string): string | null {
  return /\[(\w+)\]/.exec(text)?.[1] ?? null;
}

export interface Lockdown {
  /** none, integrity, confidentiality; null when it cannot be read. */
  mode: string | null;
  detail: string;
}

export function readLockdown(path = LOCKDOWN_PATH): Lockdown {
  if (existsSync(path)) return { mode: parseLockdown(readFileSync(path, "utf8")), detail: path };
  if (!/\bsecurityfs\b/.test(readFileSync("/proc/filesystems", "utf8")))
    return { mode: null, detail: "no securityfs in this kernel" };
  const dir = mkdtempSync(join(tmpdir(), "stalld-securityfs-"));
  try {
    mount("securityfs", dir, "securityfs");
    try {
      const file = join(dir, "lockdown");
      if (!existsSync(file))
        return { mode: null, detail: "securityfs has no lockdown file (CONFIG_SECURITY_LOCKDOWN_LSM off)" };
      return { mode: parseLockdown(readFileSync(file, "utf8")), detail: "securityfs mounted for the read" };
    } finally {
      umount(dir);
    }
  } catch (e) {
    return { mode: null, detail: `securityfs could not be mounted: ${(e as Error).message}` };
  } finally {
    rmdirSync(dir);
  }
}
