// What `stalld doctor` looks at, read from the running system. Each backend is
// started for a moment and stopped; the boost probe sets stalld's own policy
// and puts it back; securityfs may be mounted privately for one read; debugfs,
// if the kernel has it and it is not mounted, is mounted for the reads (as run
// would) and unmounted after them. Nothing else changes.
import { existsSync, readFileSync } from "node:fs";
import { BackendUnavailable } from "../backends/backend";
import { dlServerBpfObject } from "../backends/bpf_object";
import { makeBackend } from "../backends/factory";
import { SchedDebugBackend } from "../backends/sched_debug";
import { kernelSchedOps } from "../boost/sched_attr";
import { probeBoostMethod } from "../boost/self_sched";
import { libbpfVersion } from "../ffi/libbpf";
import { setAffinity } from "../ffi/libc";
import { parseIsolation } from "../kernel/cmdline";
import { onlineCpus, parseCpuList, possibleCpus } from "../kernel/cpus";
import { openDlServerSource } from "../kernel/dl_server_bpf";
import { readLockdown } from "../kernel/lockdown";
import { ensureMounted, isMounted, unmount } from "../kernel/mounts";
import { kernelRelease } from "../kernel/proc";
import { readCpuSomeTotalUs } from "../kernel/psi";
import { FEATURE_PATHS, readFeature, tickNs } from "../kernel/sched_features";
import type { Logger } from "../log/logger";
import { BACKEND_ORDER, type BackendName, type Facts } from "./checks";

/** CapEff bits: CAP_SYS_ADMIN 21, CAP_PERFMON 38, CAP_BPF 39. */
export function parseCaps(status: string): Facts["caps"] {
  const eff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? "0"}`);
  const has = (bit: number) => ((eff >> BigInt(bit)) & 1n) === 1n;
  return { sysAdmin: has(21), perfmon: has(38), bpf: has(39) };
}

function readOr(path: string, fallback = ""): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return fallback;
  }
}

/** A backend started and stopped: null when it worked, else its one-line reason. */
function tryBackend(name: BackendName, monitored: number[], btfPath: string | undefined, log: Logger): string | null {
  const b = makeBackend(name, { cpus: monitored, thresholdS: 20, granularityS: 5, btfPath: btfPath ?? null }, log);
  try {
    b.start();
    try {
      b.snapshot();
    } finally {
      b.stop();
    }
    return null;
  } catch (e) {
    return e instanceof BackendUnavailable ? e.reason : (e as Error).message;
  }
}

/** Cpus_allowed_list of this thread. */
function ownAffinity(): number[] {
  const m = /^Cpus_allowed_list:\s*(\S+)$/m.exec(readOr("/proc/thread-self/status"));
  return m ? parseCpuList(m[1]!, possibleCpus().length) : onlineCpus();
}

/**
 * The boost probe as `run` makes it: with RT throttling on, DEADLINE admission
 * refuses a thread whose affinity does not span its root domain (doctor may be
 * started under taskset), and run turns throttling off before probing. Here the
 * probe runs with the affinity of every online CPU instead, then it is put back.
 */
function probeLikeRun(log: Logger) {
  const saved = ownAffinity();
  try {
    setAffinity(0, onlineCpus());
  } catch {}
  try {
    return probeBoostMethod(kernelSchedOps, false, log);
  } finally {
    try {
      setAffinity(0, saved);
    } catch {}
  }
}

export function gatherFacts(monitored: number[], btfPath: string | undefined, log: Logger): Facts {
  const release = kernelRelease();
  const version = readOr("/proc/sys/kernel/version").trim();
  const filesystems = readOr("/proc/filesystems");
  const mounts = readOr("/proc/self/mounts");
  const fsFact = (fs: "debugfs" | "tracefs" | "bpf") => ({
    mounted: isMounted(fs, mounts),
    supported: new RegExp(`\\b${fs}\\b`).test(filesystems),
  });
  const fsFacts = { debugfs: fsFact("debugfs"), tracefs: fsFact("tracefs"), bpf: fsFact("bpf") };
  // HRTICK, sched_debug and the DL-server's files are read the way run sees
  // them: run mounts debugfs, so the doctor does too, for its reads only.
  let ownDebugfs = false;
  if (!fsFacts.debugfs.mounted && fsFacts.debugfs.supported) {
    try {
      ownDebugfs = ensureMounted("debugfs");
    } catch {}
  }
  try {
    return gatherMounted(monitored, btfPath, log, { release, version, mounts: fsFacts });
  } finally {
    if (ownDebugfs) {
      try {
        unmount("debugfs");
      } catch {}
    }
  }
}

function gatherMounted(
  monitored: number[],
  btfPath: string | undefined,
  log: Logger,
  pre: Pick<Facts, "release" | "version" | "mounts">,
): Facts {
  const { release, version } = pre;

  const backends = Object.fromEntries(BACKEND_ORDER.map((b) => [b, tryBackend(b, monitored, btfPath, log)])) as Record<
    BackendName,
    string | null
  >;

  let schedDebug: Facts["schedDebug"];
  const sd = new SchedDebugBackend({ cpus: monitored, log });
  try {
    sd.start();
    sd.stop();
    schedDebug = { path: sd.filePath, detail: sd.formatDetail };
  } catch (e) {
    schedDebug = { error: e instanceof BackendUnavailable ? e.reason : (e as Error).message };
  }

  const dlSource = openDlServerSource(dlServerBpfObject(), monitored, log, btfPath);
  const dl = dlSource.read();
  dlSource.close();

  let featuresWritable = false;
  try {
    readFileSync(FEATURE_PATHS.features);
    featuresWritable = true;
  } catch {}

  const messages: string[] = [];
  // The probe says what it found through info and warn: kept for the row instead of logged.
  const capture = {
    info: (m: string) => messages.push(m),
    warn: (m: string) => messages.push(m),
    debug: () => {},
  } as unknown as Logger;
  const method = process.geteuid?.() === 0 ? probeLikeRun(capture) : null;

  const nr = possibleCpus().length;
  const isolation = parseIsolation(readOr("/proc/cmdline"), nr);
  try {
    const sysIsolated = readOr("/sys/devices/system/cpu/isolated").trim();
    if (sysIsolated)
      isolation.isolcpus = [...new Set([...isolation.isolcpus, ...parseCpuList(sysIsolated, nr)])].sort(
        (a, b) => a - b,
      );
  } catch {}

  return {
    release,
    version,
    realtimeFile: readOr("/sys/kernel/realtime").trim() === "1",
    root: process.geteuid?.() === 0,
    caps: parseCaps(readOr("/proc/self/status")),
    btf: { path: "/sys/kernel/btf/vmlinux", present: existsSync("/sys/kernel/btf/vmlinux") },
    libbpf: libbpfVersion(),
    backends,
    schedDebug,
    mounts: pre.mounts,
    lockdown: readLockdown(),
    rt: {
      runtimeUs: Number(readOr("/proc/sys/kernel/sched_rt_runtime_us", "NaN")),
      periodUs: Number(readOr("/proc/sys/kernel/sched_rt_period_us", "NaN")),
    },
    hrtick: readFeature("HRTICK"),
    hrtickDl: readFeature("HRTICK_DL"),
    featuresWritable,
    tickNs: tickNs(),
    dl,
    isolation,
    monitored,
    online: onlineCpus(),
    boost: { method, detail: messages.join("; ") || "not root" },
    psi: readCpuSomeTotalUs() !== null,
  };
}
