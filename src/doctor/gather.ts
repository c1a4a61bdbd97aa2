// What `stalld doctor` looks at, read from the running system. Each backend is
// started for a moment and stopped; the boost probe sets stalld's own policy
// and puts it back; securityfs may be mounted privately for one read; debugfs,
// if the kernel has it and it is not mounted, is mounted for the reads (as run
// would) and unmounted after them. Nothing else changes.
import { existsSync, readFileSync } from "node:fs";
import { type BackendSpec, BackendUnavailable } from "../backends/backend";
import { BACKENDS } from "../backends/registry";
import { probeBoostPolicy } from "../boost/policies";
import { libbpfVersion } from "../ffi/libbpf";
import { setAffinity } from "../ffi/libc";
import { parseIsolation } from "../kernel/cmdline";
import { onlineCpus, parseCpuList, possibleCpus } from "../kernel/cpus";
import { openDlServerSource } from "../kernel/dl_server_bpf";
import { readLockdown } from "../kernel/lockdown";
import { ensureMounted, isMounted, unmount } from "../kernel/mounts";
import { inInitialPidNamespace, notWritable } from "../kernel/namespaces";
import { kernelRelease } from "../kernel/proc";
import { readCpuSomeTotalUs } from "../kernel/psi";
import { kernelSchedOps } from "../kernel/sched_attr";
import { FEATURE_PATHS, readFeature, tickNs } from "../kernel/sched_features";
import type { LogEntry, Logger } from "../log/logger";
import type { BackendTrial, Facts } from "./checks";

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

/** A backend started, read once and stopped: its trial. */
function tryBackend(spec: BackendSpec, monitored: number[], btfPath: string | undefined, log: Logger): BackendTrial {
  const b = spec.make({ cpus: monitored, thresholdS: 20, granularityS: 5, btfPath: btfPath ?? null, log });
  try {
    b.start();
    try {
      b.snapshot();
      return { name: spec.name, error: null, detail: b.detail };
    } finally {
      b.stop();
    }
  } catch (e) {
    return { name: spec.name, error: e instanceof BackendUnavailable ? e.reason : (e as Error).message };
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
    return probeBoostPolicy(kernelSchedOps, false, log)?.name ?? null;
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

  const backends = BACKENDS.map((spec) => tryBackend(spec, monitored, btfPath, log));

  const dlSource = openDlServerSource(monitored, log, btfPath);
  const dl = dlSource.read();
  dlSource.close();

  let featuresReadable = false;
  try {
    readFileSync(FEATURE_PATHS.features);
    featuresReadable = true;
  } catch {}

  const messages: string[] = [];
  // The probe says what it found through info and warn: kept for the row instead of logged.
  const keep = (m: LogEntry) => messages.push(typeof m === "string" ? m : m.message);
  const capture: Logger = { error: keep, warn: keep, info: keep, debug: () => {}, trace: () => {} };
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
    mounts: pre.mounts,
    lockdown: readLockdown(),
    rt: {
      runtimeUs: Number(readOr("/proc/sys/kernel/sched_rt_runtime_us", "NaN")),
      periodUs: Number(readOr("/proc/sys/kernel/sched_rt_period_us", "NaN")),
    },
    hrtick: readFeature("HRTICK"),
    hrtickDl: readFeature("HRTICK_DL"),
    featuresReadable,
    tickNs: tickNs(),
    dl,
    isolation,
    monitored,
    online: onlineCpus(),
    boost: { method, detail: messages.join("; ") || "not root" },
    psi: readCpuSomeTotalUs() !== null,
    container: {
      initialPidNamespace: inInitialPidNamespace(),
      rtRuntimeNotWritable: notWritable("/proc/sys/kernel/sched_rt_runtime_us"),
      sysReadOnly: /^\S+ \/sys sysfs (ro|\S*,ro)[, ]/m.test(readOr("/proc/self/mounts")),
    },
  };
}
