// queue_track: tracepoints stamp when a task becomes runnable and clear the
// stamp when it runs (bpf/stalld.bpf.c). A pass reads the whole `waiting` map in
// a few batch calls and what runs on each CPU from an mmapped array: no
// per-task syscalls, nothing proportional to the threads alive.
import { type Pointer, toArrayBuffer } from "bun:ffi";
import { BPF_REMEDY, LibbpfLog, runIterator } from "../bpf/common";
import { stalldBpfObject } from "../bpf/objects";
import { decodeRunning, decodeWaiter, RUNNING_LAYOUT, TASK_FLAG, WAITER_LAYOUT } from "../bpf/records";
import { SysError } from "../ffi/errno";
import * as bpf from "../ffi/libbpf";
import { mmapRead, monotonicNs, munmap } from "../ffi/libc";
import { possibleCpus } from "../kernel/cpus";
import { pidMax, readTaskStat } from "../kernel/proc";
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

/** Tracepoint programs, attached in this order before the snapshot iterator runs. */
export const TRACEPOINT_PROGRAMS = [
  "stalld_wakeup",
  "stalld_wake_new",
  "stalld_switch",
  "stalld_migrate",
  "stalld_exit",
] as const;
export const SNAPSHOT_PROGRAM = "stalld_snapshot";

export interface QueueTrackOptions {
  object: Uint8Array;
  possibleCpus: number;
  /** Upper bound of the `waiting` map: no more tasks than pids can wait. */
  pidMax: number;
  log: Logger;
  /** Kernel BTF file for CO-RE (--btf); default: the running kernel's. */
  btfPath?: string;
}

/** Room for every task that can be runnable at once, bounded by pid_max. */
export function waitingMapSize(pidMax: number, possibleCpus: number): number {
  return Math.max(1024, Math.min(pidMax, Math.max(32768, 2048 * possibleCpus)));
}

const PAGE = 4096;

interface MappedArray {
  ptr: Pointer;
  len: number;
  view: DataView;
}

export class QueueTrackBackend implements Backend {
  readonly name = "queue_track";
  readonly kernelDatedWaits = true;
  private obj: bpf.BpfObject | null = null;
  private links: bpf.BpfLink[] = [];
  private waitingFd = -1;
  private runningMap: MappedArray | null = null;
  private bootRunningMap: MappedArray | null = null;
  private bss: DataView | null = null;
  private readonly maxEntries: number;
  // Batch buffers, reused between passes; grown on ENOSPC.
  private cap = 256;
  private keys = new Uint8Array(4 * 256);
  private values = new Uint8Array(WAITER_LAYOUT.size * 256);
  private readonly batchIn = new Uint8Array(8);
  private readonly batchOut = new Uint8Array(8);
  private readonly count = new Uint32Array(1);
  private readonly pidKey = new Uint32Array(1);

  constructor(private readonly opts: QueueTrackOptions) {
    this.maxEntries = waitingMapSize(opts.pidMax, opts.possibleCpus);
  }

  start(): void {
    const { log } = this.opts;
    const libbpfLog = new LibbpfLog(log);
    try {
      this.obj = bpf.openMem(this.opts.object, { btfPath: this.opts.btfPath });
      bpf.setMaxEntries(bpf.findMap(this.obj, "waiting"), this.maxEntries);
      const running = bpf.findMap(this.obj, "running");
      const bootRunning = bpf.findMap(this.obj, "boot_running");
      bpf.setMaxEntries(running, this.opts.possibleCpus);
      bpf.setMaxEntries(bootRunning, this.opts.possibleCpus);
      bpf.load(this.obj);
      // Tracepoints first, then the iterator: nothing queued in between is missed.
      for (const name of TRACEPOINT_PROGRAMS) this.links.push(bpf.attach(bpf.findProgram(this.obj, name), name));
      this.waitingFd = bpf.mapFd(bpf.findMap(this.obj, "waiting"));
      this.runningMap = this.mapArray(bpf.mapFd(running));
      this.bootRunningMap = this.mapArray(bpf.mapFd(bootRunning));
      const bss = bpf.mapInitialValue(bpf.findMap(this.obj, ".bss"));
      this.bss = new DataView(toArrayBuffer(bss.ptr, 0, bss.size));
      this.runSnapshotIterator();
    } catch (e) {
      this.stop();
      throw new BackendUnavailable(this.name, libbpfLog.failed(e));
    }
    libbpfLog.loaded();
    log.debug(`queue_track: waiting map holds ${this.maxEntries} tasks, running map ${this.opts.possibleCpus} cpus`);
  }

  private mapArray(fd: number): MappedArray {
    const len = Math.ceil((this.opts.possibleCpus * RUNNING_LAYOUT.size) / PAGE) * PAGE;
    const p = mmapRead(fd, len);
    return { ptr: p, len, view: new DataView(toArrayBuffer(p, 0, len)) };
  }

  private runSnapshotIterator(): void {
    const link = bpf.attachIter(bpf.findProgram(this.obj!, SNAPSHOT_PROGRAM), SNAPSHOT_PROGRAM);
    try {
      // The program writes nothing: it fills the maps as it visits each task.
      runIterator(link, { bytes: new Uint8Array(4096) });
    } finally {
      bpf.destroyLink(link);
    }
  }

  snapshot(): Snapshot {
    const waiters = this.readWaiting();
    const nowNs = monotonicNs();
    const out: Waiter[] = [];
    for (const w of waiters) {
      const waited = nowNs > w.sinceNs ? Number(nowNs - w.sinceNs) : 0;
      out.push({
        pid: w.pid,
        tgid: w.tgid,
        cpu: w.cpu,
        prio: w.prio,
        policy: w.policy,
        waitedNs: waited,
        customSlice: (w.flags & TASK_FLAG.customSlice) !== 0,
      });
    }
    const running: (RunningTask | undefined)[] = [];
    for (let cpu = 0; cpu < this.opts.possibleCpus; cpu++) {
      let r = decodeRunning(cpu, this.runningMap!.view, cpu * RUNNING_LAYOUT.size);
      // No switch on this CPU since start: what the start-up snapshot saw still runs.
      if (r.sinceNs === 0n) r = decodeRunning(cpu, this.bootRunningMap!.view, cpu * RUNNING_LAYOUT.size);
      if (r.sinceNs === 0n) continue;
      running[cpu] = {
        cpu,
        pid: r.pid,
        tgid: r.tgid,
        prio: r.prio,
        policy: r.policy,
        ranNs: nowNs > r.sinceNs ? Number(nowNs - r.sinceNs) : 0,
      };
    }
    for (const cpu of new Set(out.map((w) => w.cpu))) running[cpu] = refreshRunner(running[cpu]);
    return { nowNs, waiters: out, running };
  }

  private readWaiting() {
    const result = [];
    let first = true;
    for (;;) {
      this.count[0] = this.cap;
      let r: { n: number; done: boolean };
      try {
        r = bpf.lookupBatch(
          this.waitingFd,
          first ? null : this.batchIn,
          this.batchOut,
          this.keys,
          this.values,
          this.count,
        );
      } catch (e) {
        if (e instanceof SysError && e.code === "ENOSPC" && this.cap < this.maxEntries) {
          this.grow();
          continue;
        }
        throw e;
      }
      const keys = new DataView(this.keys.buffer);
      const values = new DataView(this.values.buffer);
      for (let i = 0; i < r.n; i++)
        result.push(decodeWaiter(keys.getUint32(i * 4, true), values, i * WAITER_LAYOUT.size));
      if (r.done) break;
      this.batchIn.set(this.batchOut);
      first = false;
    }
    return result;
  }

  private grow(): void {
    this.cap = Math.min(this.cap * 4, this.maxEntries);
    this.keys = new Uint8Array(4 * this.cap);
    this.values = new Uint8Array(WAITER_LAYOUT.size * this.cap);
  }

  forget(pid: number): void {
    this.pidKey[0] = pid;
    bpf.deleteElem(this.waitingFd, new Uint8Array(this.pidKey.buffer));
  }

  stats(): BackendStats {
    return { dropped: this.bss ? Number(this.bss.getBigUint64(0, true)) : 0 };
  }

  stop(): void {
    for (const link of this.links.reverse()) bpf.destroyLink(link);
    this.links = [];
    for (const m of [this.runningMap, this.bootRunningMap]) if (m) munmap(m.ptr, m.len);
    this.runningMap = null;
    this.bootRunningMap = null;
    this.bss = null;
    if (this.obj) bpf.close(this.obj);
    this.obj = null;
    this.waitingFd = -1;
    bpf.setLibbpfPrint(null);
  }
}

/**
 * The running record is written at each switch, so a task whose policy
 * changed while it ran (a busy loop that makes itself SCHED_FIFO on its own
 * CPU: no switch follows) keeps its old prio there; seen in the lab, where
 * queue_track took the new FIFO 50 loop for SCHED_OTHER for 3 s. Where tasks
 * wait, /proc says what the runner's policy is now: one read per such CPU.
 */
function refreshRunner(r: RunningTask | undefined): RunningTask | undefined {
  if (!r || r.pid === 0) return r;
  const st = readTaskStat(r.pid);
  if (!st || st.cpu !== r.cpu || st.state !== "R") return r;
  return { ...r, prio: st.prio, policy: st.policy };
}

export const queueTrack = {
  name: "queue_track",
  alias: "Q",
  btf: true,
  needsDebugfs: false,
  needs: "needs BTF and tp_btf tracepoints (5.5+)",
  doctor: { id: "bpf-tracepoints", works: "queue_track loaded; its sched_* tracepoint programs attached" },
  remedy: BPF_REMEDY,
  make: (ctx) =>
    new QueueTrackBackend({
      object: stalldBpfObject(),
      possibleCpus: possibleCpus().length,
      pidMax: pidMax(),
      log: ctx.log,
      btfPath: ctx.btfPath ?? undefined,
    }),
} as const satisfies BackendSpec;
