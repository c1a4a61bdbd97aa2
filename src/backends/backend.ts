// One way of seeing run queues. The daemon asks a backend for a snapshot each
// pass and decides from scratch; a backend keeps no opinion about starvation.
// Each backend file exports a BackendSpec; registry.ts lists them.
import type { Logger } from "../log/logger";

export interface Waiter {
  pid: number;
  tgid: number;
  cpu: number;
  /** Kernel prio when it started waiting (0..99 RT, -1 DEADLINE, 100..139 fair). */
  prio: number;
  policy: number;
  /** How long it has been runnable without running, at snapshot.nowNs. */
  waitedNs: number;
  /** A fair task with a slice of its own (6.12+); undefined where the kernel has none. */
  customSlice?: boolean;
}

export interface RunningTask {
  cpu: number;
  /** 0: the idle task, or nothing known yet. */
  pid: number;
  tgid: number;
  prio: number;
  policy: number;
  /** How long it has been on the CPU, at snapshot.nowNs. */
  ranNs: number;
}

export interface Snapshot {
  /** CLOCK_MONOTONIC ns at which the snapshot was taken. */
  nowNs: bigint;
  waiters: Waiter[];
  /** Indexed by cpu. */
  running: (RunningTask | undefined)[];
  /** Monitored CPUs whose run queue could not be read this time (sched_debug: a malformed or cut section). */
  unread?: number[];
}

export interface BackendStats {
  /** Tasks the backend could not record (a full map). */
  dropped: number;
  /** Monitored run queues it could not read exactly (sched_debug: a malformed or cut section), so far. */
  unreadable?: number;
}

export interface Backend {
  readonly name: string;
  /**
   * true: waitedNs comes from the kernel's own accounting, whenever the wait
   * began. false: a wait is dated from the first snapshot that saw it
   * (sched_debug), so how often snapshots come is its precision.
   */
  readonly kernelDatedWaits: boolean;
  /** What it reads, once started (doctor shows it); undefined when there is nothing to add. */
  readonly detail?: string;
  /** Throws BackendUnavailable with a one-line reason. */
  start(): void;
  snapshot(): Snapshot;
  /** Stops tracking a task that no longer exists (a ghost). */
  forget(pid: number): void;
  stats(): BackendStats;
  /** Idempotent; detaches everything. */
  stop(): void;
}

export class BackendUnavailable extends Error {
  constructor(
    readonly backend: string,
    readonly reason: string,
  ) {
    super(`backend ${backend} unavailable: ${reason}`);
    this.name = "BackendUnavailable";
  }
}

/** What a backend is made from: the monitored CPUs and the timing it reports for. */
export interface BackendContext {
  cpus: readonly number[];
  thresholdS: number;
  granularityS: number;
  /** --btf: kernel BTF for CO-RE; null: the running kernel's. */
  btfPath: string | null;
  log: Logger;
}

/** A backend as the registry knows it: how it is named, made, and what it needs. */
export interface BackendSpec {
  name: string;
  /** -b's one-letter form (the original's). */
  alias: string;
  /** Loads BPF with CO-RE: reads the kernel's BTF (--btf applies to it). */
  btf: boolean;
  /** debugfs must be mounted before it starts (the lifecycle mounts it, and unmounts it at exit). */
  needsDebugfs: boolean;
  /** What it needs from the kernel, for doctor's remedy. */
  needs: string;
  /** doctor's row for it, and what a start that worked shows. */
  doctor: { id: string; works: string };
  /** When nothing starts: what to do about this one (said once per distinct remedy). */
  remedy: string;
  make(ctx: BackendContext): Backend;
}
