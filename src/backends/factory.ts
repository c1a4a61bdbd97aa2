// Making a backend by name, for `run` and `doctor`: the order they are tried
// in, and what to do when one cannot start.
import type { BackendName, RunConfig } from "../cli/options";
import { possibleCpus } from "../kernel/cpus";
import { pidMax } from "../kernel/proc";
import type { Logger } from "../log/logger";
import type { Backend } from "./backend";
import { stalldBpfObject, taskScanBpfObject } from "./bpf_object";
import { QueueTrackBackend } from "./queue_track";
import { SchedDebugBackend } from "./sched_debug";
import { TaskScanBackend } from "./task_scan";

/** Without -b, the first of these that starts (order from BENCHMARKS.md): BPF first, then the debug file. */
export const DEFAULT_BACKENDS: readonly BackendName[] = ["task_scan", "queue_track", "sched_debug"];

const BPF_REMEDY =
  "The BPF backends need kernel BTF (/sys/kernel/btf/vmlinux, or --btf FILE) and CAP_BPF with CAP_PERFMON (or CAP_SYS_ADMIN).";

/** What to do when nothing starts, after the reasons: one sentence per kind of backend that failed. */
export const REMEDY: Record<BackendName, string> = {
  task_scan: BPF_REMEDY,
  queue_track: BPF_REMEDY,
  sched_debug:
    "sched_debug needs CONFIG_SCHED_DEBUG and a readable debug file (mount -t debugfs none /sys/kernel/debug; lockdown=confidentiality forbids reading it).",
};

export function makeBackend(
  name: BackendName,
  cfg: Pick<RunConfig, "cpus" | "thresholdS" | "granularityS" | "btfPath">,
  log: Logger,
): Backend {
  switch (name) {
    case "task_scan":
      return new TaskScanBackend({
        object: taskScanBpfObject(),
        cpus: cfg.cpus,
        reportNs: (cfg.thresholdS - Math.min(cfg.granularityS, cfg.thresholdS)) * 1e9,
        log,
        btfPath: cfg.btfPath ?? undefined,
      });
    case "queue_track":
      return new QueueTrackBackend({
        object: stalldBpfObject(),
        possibleCpus: possibleCpus().length,
        pidMax: pidMax(),
        log,
        btfPath: cfg.btfPath ?? undefined,
      });
    case "sched_debug":
      return new SchedDebugBackend({ cpus: cfg.cpus, log });
  }
}
