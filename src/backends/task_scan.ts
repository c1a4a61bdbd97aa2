// task_scan: no scheduler hook at all. Each pass runs an iter/task program
// from the daemon's own CPU (bpf/task_scan.bpf.c) that reads every thread's
// run-queue state and writes 32-byte records only for threads on monitored
// CPUs that are running, or have been queued long enough to matter.

import { BPF_REMEDY, LibbpfLog, runIterator } from "../bpf/common";
import { taskScanBpfObject } from "../bpf/objects";
import { decodeScan, encodeScanCfg, SCAN_HAS, SCAN_KIND, SCAN_LAYOUT, TASK_FLAG } from "../bpf/records";
import * as bpf from "../ffi/libbpf";
import { monotonicNs } from "../ffi/libc";
import type { Logger } from "../log/logger";
import {
  type Backend,
  type BackendSpec,
  type BackendStats,
  BackendUnavailable,
  type RunningTask,
  type Snapshot,
  type Waiter,
} from "./backend";

export const SCAN_PROGRAM = "stalld_scan";

export interface TaskScanOptions {
  object: Uint8Array;
  cpus: readonly number[];
  /**
   * Report waiters from this wait on: threshold minus the longest sleep between
   * passes, so the daemon learns of every task that can cross before its next pass.
   */
  reportNs: number;
  log: Logger;
  /** Kernel BTF file for CO-RE (--btf); default: the running kernel's. */
  btfPath?: string;
}

/** Why this kernel cannot be scanned, from the header's flags; null when it can. */
export function missingScanFeatures(features: number): string | null {
  if (!(features & SCAN_HAS.queued)) return "the kernel has no sched_info.last_queued (CONFIG_SCHED_INFO off)";
  if (!(features & SCAN_HAS.rq)) return "no path from a task to its run queue clock (CONFIG_FAIR_GROUP_SCHED off)";
  return null;
}

export class TaskScanBackend implements Backend {
  readonly name = "task_scan";
  readonly kernelDatedWaits = true;
  private obj: bpf.BpfObject | null = null;
  private link: bpf.BpfLink | null = null;
  private readonly buf = { bytes: new Uint8Array(64 * 1024) };

  constructor(private readonly opts: TaskScanOptions) {}

  start(): void {
    const libbpfLog = new LibbpfLog(this.opts.log);
    try {
      this.obj = bpf.openMem(this.opts.object, { btfPath: this.opts.btfPath });
      bpf.load(this.obj);
      const cfgFd = bpf.mapFd(bpf.findMap(this.obj, "scan_cfg"));
      bpf.updateElem(
        cfgFd,
        new Uint8Array(4),
        encodeScanCfg(BigInt(Math.max(0, Math.floor(this.opts.reportNs))), this.opts.cpus),
      );
      this.link = bpf.attachIter(bpf.findProgram(this.obj, SCAN_PROGRAM), SCAN_PROGRAM);
    } catch (e) {
      this.stop();
      throw new BackendUnavailable(this.name, libbpfLog.failed(e));
    }
    libbpfLog.loaded();
    // One trial scan: the header says whether this kernel shows what we need.
    const missing = missingScanFeatures(this.scan().features);
    if (missing) {
      this.stop();
      throw new BackendUnavailable(this.name, missing);
    }
  }

  private scan(): { features: number; waiters: Waiter[]; running: (RunningTask | undefined)[] } {
    const len = runIterator(this.link!, this.buf);
    const view = new DataView(this.buf.bytes.buffer, 0, len);
    const waiters: Waiter[] = [];
    const running: (RunningTask | undefined)[] = [];
    let features = 0;
    for (let off = 0; off + SCAN_LAYOUT.size <= len; off += SCAN_LAYOUT.size) {
      const r = decodeScan(view, off);
      if (r.kind === SCAN_KIND.header) features = r.pid;
      else if (r.kind === SCAN_KIND.waiter) {
        waiters.push({
          pid: r.pid,
          tgid: r.tgid,
          cpu: r.cpu,
          prio: r.prio,
          policy: r.policy,
          waitedNs: Number(r.ns),
          customSlice: (r.flags & TASK_FLAG.customSlice) !== 0,
        });
      } else if (r.kind === SCAN_KIND.running) {
        running[r.cpu] = { cpu: r.cpu, pid: r.pid, tgid: r.tgid, prio: r.prio, policy: r.policy, ranNs: Number(r.ns) };
      }
    }
    return { features, waiters, running };
  }

  snapshot(): Snapshot {
    const { waiters, running } = this.scan();
    return { nowNs: monotonicNs(), waiters, running };
  }

  /** Nothing is kept between passes: a gone task simply stops appearing. */
  forget(_pid: number): void {}

  stats(): BackendStats {
    return { dropped: 0 };
  }

  stop(): void {
    if (this.link) bpf.destroyLink(this.link);
    this.link = null;
    if (this.obj) bpf.close(this.obj);
    this.obj = null;
    bpf.setLibbpfPrint(null);
  }
}

export const taskScan = {
  name: "task_scan",
  alias: "T",
  btf: true,
  needsDebugfs: false,
  needs: "needs BTF, iter/task (5.8+), CONFIG_SCHED_INFO and CONFIG_FAIR_GROUP_SCHED",
  doctor: { id: "bpf-iterator", works: "task_scan loaded; its task iterator ran" },
  remedy: BPF_REMEDY,
  make: (ctx) =>
    new TaskScanBackend({
      object: taskScanBpfObject(),
      cpus: ctx.cpus,
      // Every task that can cross the threshold before the next pass.
      reportNs: (ctx.thresholdS - Math.min(ctx.granularityS, ctx.thresholdS)) * 1e9,
      log: ctx.log,
      btfPath: ctx.btfPath ?? undefined,
    }),
} as const satisfies BackendSpec;
