// sched_debug: no BPF at all, the original stalld's first way. Each pass reads
// the scheduler's debug file and takes, per monitored CPU, the running task
// and the runnable ones. The file has no "waiting since", so a task is dated
// by the first pass that saw it runnable with its current switch count (the
// count changes whenever it leaves the CPU): a wait is a lower bound, short by
// at most the time since the previous read.
import { existsSync, statSync } from "node:fs";
import { monotonicNs } from "../ffi/libc";
import { PF_KTHREAD, readStatus, readTaskStat } from "../kernel/proc";
import { ProcFile } from "../kernel/proc_file";
import { MAX_RT_PRIO, SCHED_DEADLINE, SCHED_FIFO, SCHED_OTHER } from "../kernel/sched_attr";
import {
  COMM_FIELD,
  parseSchedDebug,
  SCHED_DEBUG_PATHS,
  type SchedDebugCpu,
  type SchedDebugTask,
  unpadded,
} from "../kernel/sched_debug";
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

const MIN_BUFFER = 256 * 1024;

/** What /proc says of a task, for checking a row against it. */
export interface TaskFacts {
  /** /proc/<pid>/stat's name, one char per byte. */
  rawComm: string;
  /** A kernel thread: /proc shows its full name (a kworker's with its workqueue), the table the first 15 bytes. */
  kthread: boolean;
  tgid: number;
  policy: number;
  /** /proc state letter. */
  state: string;
  /** The CPU it is queued or runs on (stat field 39). */
  cpu: number;
  /** Voluntary plus involuntary context switches, as the table counts them. */
  switches: number;
}

/** The task behind a pid, from /proc/<pid>/stat and status; null when it is gone. */
export function procTaskFacts(pid: number): TaskFacts | null {
  const st = readTaskStat(pid);
  const status = st ? readStatus(pid) : null;
  if (!st || !status) return null;
  const num = (key: string) => Number(new RegExp(`^${key}:\\s*(\\d+)$`, "m").exec(status)?.[1] ?? Number.NaN);
  const facts = {
    rawComm: st.rawComm,
    kthread: (st.flags & PF_KTHREAD) !== 0,
    tgid: num("Tgid"),
    policy: st.policy,
    state: st.state,
    cpu: st.cpu,
    switches: num("voluntary_ctxt_switches") + num("nonvoluntary_ctxt_switches"),
  };
  return Number.isInteger(facts.tgid) && Number.isInteger(facts.switches) ? facts : null;
}

/**
 * Whether a row is the task /proc describes, runnable on that CPU: the same
 * name exactly (right-aligned in its 15 bytes, as printed; a kernel thread's
 * may be longer in /proc, and users can neither set that flag nor rename such
 * a thread), state R, the same CPU and the same switch count. A name can forge
 * a row; it cannot make /proc say all of that. A waiting task cannot switch
 * between the two reads; the running one can (on 6.12-rt the lab's busy loop
 * was preempted often enough that no pass ever matched, and the CPU was never
 * judged): for it (`running`) the count read from /proc after the table may
 * only have grown.
 */
export function rowIsTask(
  row: Pick<SchedDebugTask, "commField" | "switches">,
  cpu: number,
  f: TaskFacts,
  running = false,
): boolean {
  const table = unpadded(row.commField);
  const name =
    row.commField === f.rawComm.padStart(COMM_FIELD, " ") ||
    (f.kthread && table.length > 0 && f.rawComm.startsWith(table));
  const switches = running ? f.switches >= row.switches : f.switches === row.switches;
  return name && f.state === "R" && f.cpu === cpu && switches;
}

export interface SchedDebugOptions {
  cpus: readonly number[];
  log: Logger;
  /** The file to read; default: the first of SCHED_DEBUG_PATHS that exists (debugfs is mounted by the lifecycle). */
  path?: string;
  /** Replaced in unit tests. */
  facts?: (pid: number) => TaskFacts | null;
  read?: (path: string) => string | Uint8Array;
  now?: () => bigint;
}

interface Seen {
  pid: number;
  switches: number;
  commField: string;
  sinceNs: bigint;
  tgid: number;
  policy: number;
  cpu: number;
}

function accessError(path: string): string | null {
  try {
    statSync(path);
    return null;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? "?";
  }
}

function policyOfPrio(prio: number): number {
  return prio < 0 ? SCHED_DEADLINE : prio < MAX_RT_PRIO ? SCHED_FIFO : SCHED_OTHER;
}

export class SchedDebugBackend implements Backend {
  readonly name = "sched_debug";
  readonly kernelDatedWaits = false;
  private path = "";
  private format = "";
  /** The debug file, read through one fd and one buffer (opened at the first read, closed at stop). */
  private file: ProcFile | null = null;
  private waiting = new Map<number, Seen>();
  private runners = new Map<number, Seen>();
  private readonly cpus: readonly number[];
  private readonly cpuSet: ReadonlySet<number>;
  private readonly facts: (pid: number) => TaskFacts | null;
  private readonly now: () => bigint;
  private readonly readText: (path: string) => string | Uint8Array;
  /** Monitored sections not used because they did not read exactly (malformed, or cut short). */
  private unreadable = 0;
  private rowOffset: number | undefined = undefined;

  /** The file and the table layout seen at start. */
  get detail(): string {
    return `${this.path} (${this.format})`;
  }

  constructor(private readonly opts: SchedDebugOptions) {
    this.cpus = opts.cpus;
    this.cpuSet = new Set(opts.cpus);
    this.facts = opts.facts ?? procTaskFacts;
    this.now = opts.now ?? monotonicNs;
    this.readText = opts.read ?? ((p) => this.debugFile(p).readBytes());
  }

  private debugFile(path: string): ProcFile {
    this.file ??= new ProcFile(path, MIN_BUFFER);
    return this.file;
  }

  start(): void {
    try {
      this.path = this.opts.path ?? this.findFile();
      const sd = parseSchedDebug(this.readText(this.path));
      const layout = sd.layout === "state" ? "task states shown" : "legacy table: task states from /proc";
      this.format = `${layout}${sd.version ? `, format ${sd.version}` : ""}`;
      this.opts.log.info(
        `sched_debug: reading ${this.path} (${this.format}); ` +
          "waits are dated from the first pass that sees a task runnable",
      );
    } catch (e) {
      this.stop();
      throw new BackendUnavailable(this.name, (e as Error).message);
    }
  }

  /** debugfs (5.13+) or /proc (older). */
  private findFile(): string {
    const path = SCHED_DEBUG_PATHS.find((p) => existsSync(p));
    if (!path) {
      // Not there, or not ours to see: debugfs is root-only (0700).
      const denied = SCHED_DEBUG_PATHS.map((p) => accessError(p)).find((c) => c === "EACCES" || c === "EPERM");
      if (denied)
        throw new Error(`${SCHED_DEBUG_PATHS.join(" and ")} cannot be read (${denied}: stalld must run as root)`);
      throw new Error(`no ${SCHED_DEBUG_PATHS.join(" or ")}: the kernel has no CONFIG_SCHED_DEBUG`);
    }
    return path;
  }

  snapshot(): Snapshot {
    const sd = parseSchedDebug(this.readText(this.path), {
      cpus: this.cpuSet,
      runnableOnly: true,
      rowOffset: this.rowOffset,
    });
    this.rowOffset = sd.rowOffset;
    const nowNs = this.now();
    const waiting = new Map<number, Seen>();
    const waiters: Waiter[] = [];
    const running: (RunningTask | undefined)[] = [];
    const unread: number[] = [];
    for (const cpu of this.cpus) {
      const sec = sd.cpus.get(cpu);
      if (!sec) {
        unread.push(cpu); // offline
        continue;
      }
      if (!sec.complete || sec.malformed) {
        unread.push(cpu);
        // Nothing of it is used this pass; what was known of its waits keeps its dates.
        this.noteUnreadable(cpu, sec.malformed ?? "its section ends before its task table does");
        for (const s of this.waiting.values()) if (s.cpu === cpu) waiting.set(s.pid, s);
        continue;
      }
      const runner = this.runner(sec, nowNs);
      running[cpu] = runner;
      // Without a checked runner nothing on this CPU can be judged; its known waits keep their dates
      // (dropping them restarted every wait on 6.12-rt, whose busy loop often switched mid-read).
      if (!runner) {
        unread.push(cpu);
        for (const s of this.waiting.values()) if (s.cpu === cpu) waiting.set(s.pid, s);
        continue;
      }
      const rtHeld = runner.pid !== 0 && runner.prio < MAX_RT_PRIO;
      for (const t of sec.tasks) {
        if (t.current || t.pid === runner.pid) continue;
        // Legacy tables list sleepers too, unmarked: /proc says which run, one read each, only where it matters.
        if (t.state !== "R" && !(t.state === "?" && rtHeld)) continue;
        const s = this.track(t, cpu, nowNs);
        if (!s) continue;
        waiting.set(t.pid, s);
        waiters.push({
          pid: t.pid,
          tgid: s.tgid,
          cpu,
          prio: t.prio,
          policy: s.policy,
          waitedNs: Number(nowNs - s.sinceNs),
        });
      }
    }
    this.waiting = waiting;
    return { nowNs, waiters, running, unread };
  }

  /**
   * The same (pid, switches, name, CPU) as last time keeps its date; a row
   * that is new or changed is trusted only once /proc says it is that task,
   * runnable there (rowIsTask): a race or a forged row waits for the next read.
   */
  private track(t: SchedDebugTask, cpu: number, nowNs: bigint): Seen | null {
    const prev = this.waiting.get(t.pid);
    if (prev && prev.switches === t.switches && prev.commField === t.commField && prev.cpu === cpu) return prev;
    const f = this.facts(t.pid);
    if (!f || !rowIsTask(t, cpu, f)) {
      this.opts.log.debug(`sched_debug: cpu ${cpu}: the row of pid ${t.pid} is not what /proc says of it; not used`);
      return null;
    }
    const sinceNs = prev && prev.switches === t.switches && prev.commField === t.commField ? prev.sinceNs : nowNs;
    return { pid: t.pid, switches: t.switches, commField: t.commField, sinceNs, tgid: f.tgid, policy: f.policy, cpu };
  }

  /** The task on the CPU, checked against /proc like a waiter when an RT task holds it; undefined: unknown. */
  private runner(sec: SchedDebugCpu, nowNs: bigint): RunningTask | undefined {
    if (sec.currPid === 0) {
      this.runners.delete(sec.cpu);
      return { cpu: sec.cpu, pid: 0, tgid: 0, prio: 140, policy: SCHED_OTHER, ranNs: 0 };
    }
    // The marked row and the section's curr->pid must agree (they differ only when it switched mid-read).
    const row = sec.tasks.find((t) => t.current);
    if (!row || row.pid !== sec.currPid) return undefined;
    let s = this.runners.get(sec.cpu);
    if (!s || s.pid !== row.pid || s.switches !== row.switches || s.commField !== row.commField) {
      // Only an RT or DEADLINE holder makes others starve: only then does it need checking (and its policy).
      const f = row.prio < MAX_RT_PRIO ? this.facts(row.pid) : null;
      if (row.prio < MAX_RT_PRIO && (!f || !rowIsTask(row, sec.cpu, f, true))) {
        this.runners.delete(sec.cpu);
        this.opts.log.debug(
          `sched_debug: cpu ${sec.cpu}: the row of its running pid ${row.pid} is not what /proc says of it; ` +
            "not judged this pass",
        );
        return undefined;
      }
      s = {
        pid: row.pid,
        switches: row.switches,
        commField: row.commField,
        sinceNs: nowNs,
        tgid: f?.tgid ?? row.pid,
        policy: f && row.prio >= 0 ? f.policy : policyOfPrio(row.prio),
        cpu: sec.cpu,
      };
      this.runners.set(sec.cpu, s);
    }
    return {
      cpu: sec.cpu,
      pid: row.pid,
      tgid: s.tgid,
      prio: row.prio,
      policy: s.policy,
      ranNs: Number(nowNs - s.sinceNs),
    };
  }

  /** A section not used this pass: counted, and said (the logger limits how often). */
  private noteUnreadable(cpu: number, why: string): void {
    this.unreadable++;
    this.opts.log.warn({
      message: `sched_debug: cpu ${cpu} not judged this pass: ${why} (${this.unreadable} such sections so far)`,
      event: "sched_debug_unreadable",
      cpu,
    });
  }

  forget(pid: number): void {
    this.waiting.delete(pid);
  }

  stats(): BackendStats {
    return { dropped: 0, unreadable: this.unreadable };
  }

  stop(): void {
    this.waiting.clear();
    this.runners.clear();
    // An open fd would keep debugfs busy.
    this.file?.close();
    this.file = null;
  }
}

export const schedDebug = {
  name: "sched_debug",
  alias: "S",
  btf: false,
  needsDebugfs: true,
  needs: "needs CONFIG_SCHED_DEBUG and a readable debug file (lockdown=confidentiality forbids reading it)",
  doctor: { id: "sched-debug", works: "sched_debug read" },
  remedy:
    "sched_debug needs CONFIG_SCHED_DEBUG and a readable debug file " +
    "(mount -t debugfs none /sys/kernel/debug; lockdown=confidentiality forbids reading it).",
  make: (ctx) => new SchedDebugBackend({ cpus: ctx.cpus, log: ctx.log }),
} as const satisfies BackendSpec;
