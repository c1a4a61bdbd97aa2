// One way of seeing run queues. The daemon asks a backend for a snapshot each
// pass and decides from scratch; a backend keeps no opinion about starvation.

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
}

export interface BackendStats {
  /** Tasks the backend could not record (a full map). */
  dropped: number;
  /** Tasks currently tracked as waiting, all CPUs. */
  tracked: number;
}

export interface Backend {
  readonly name: string;
  /**
   * true: waitedNs comes from the kernel's own accounting, whenever the wait
   * began. false: a wait is dated from the first snapshot that saw it
   * (sched_debug), so how often snapshots come is its precision.
   */
  readonly kernelDatedWaits: boolean;
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
