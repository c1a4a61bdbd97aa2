// sched_debug: no BPF at all, the original stalld's first way. Each pass reads
// the scheduler's debug file and takes, per monitored CPU, the running task
// and the runnable ones. The file has no "waiting since", so a task is dated
// by the first pass that saw it runnable with its current switch count (the
// count changes whenever it leaves the CPU): a wait is a lower bound, short by
// at most the time since the previous read.
import { existsSync, statSync } from "node:fs";
import { monotonicNs } from "../ffi/libc";
import { readTaskStat, readTgid } from "../kernel/proc";
import { ProcFile } from "../kernel/proc_file";
import { MAX_RT_PRIO, SCHED_DEADLINE, SCHED_FIFO, SCHED_OTHER } from "../kernel/sched_attr";
import { parseSchedDebug, SCHED_DEBUG_PATHS, type SchedDebugCpu, type SchedDebugTask } from "../kernel/sched_debug";
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

export interface TaskFacts {
  comm: string;
  tgid: number;
  policy: number;
  /** /proc state letter. */
  state: string;
}

/** The task behind a pid, from /proc; null when it is gone. */
export function procTaskFacts(pid: number): TaskFacts | null {
  const st = readTaskStat(pid);
  const tgid = st ? readTgid(pid) : null;
  return st && tgid !== null ? { comm: st.comm, tgid, policy: st.policy, state: st.state } : null;
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
  comm: string;
  sinceNs: bigint;
  tgid: number;
  policy: number;
  cpu: number;
}

/**
 * /proc reports a kworker as "kworker/0:1H-kblockd" where the table has
 * p->comm ("kworker/0:1H"), and the table's right-aligned comm loses leading
 * spaces: a prefix match is the same task.
 */
export function sameTask(procComm: string, tableComm: string): boolean {
  return procComm.startsWith(tableComm) || procComm.trimStart().startsWith(tableComm);
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
  private problemsNoted = 0;

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
    const sd = parseSchedDebug(this.readText(this.path), { cpus: this.cpuSet, runnableOnly: true });
    const nowNs = this.now();
    const problems = [...sd.problems];
    const waiting = new Map<number, Seen>();
    const waiters: Waiter[] = [];
    const running: (RunningTask | undefined)[] = [];
    for (const cpu of this.cpus) {
      const sec = sd.cpus.get(cpu);
      if (!sec) continue; // offline
      if (!sec.complete) {
        // Seen cut short: what was known of it stays as it was.
        problems.push(`cpu ${cpu}: its section ends before its task table does`);
        for (const s of this.waiting.values()) if (s.cpu === cpu) waiting.set(s.pid, s);
        continue;
      }
      const runner = this.runner(sec, nowNs);
      running[cpu] = runner;
      const rtHeld = runner !== undefined && runner.pid !== 0 && runner.prio < MAX_RT_PRIO;
      for (const t of sec.tasks) {
        if (t.current || t.pid === runner?.pid) continue;
        // Legacy tables list sleepers too, unmarked: /proc says which run, one read each, only where it matters.
        if (t.state !== "R" && !(t.state === "?" && rtHeld)) continue;
        const s = this.track(t, cpu, nowNs, problems);
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
    this.noteProblems(problems);
    return { nowNs, waiters, running };
  }

  /** The same (pid, switches, comm) as last time keeps its date; anything else is checked against /proc first. */
  private track(t: SchedDebugTask, cpu: number, nowNs: bigint, problems: string[]): Seen | null {
    const prev = this.waiting.get(t.pid);
    if (prev && prev.switches === t.switches && prev.comm === t.comm) return prev.cpu === cpu ? prev : { ...prev, cpu };
    const f = this.facts(t.pid);
    if (!f) return null;
    if (!sameTask(f.comm, t.comm)) {
      problems.push(`pid ${t.pid} is "${f.comm}" in /proc but "${t.comm}" in the table: skipped`);
      return null;
    }
    if (t.state === "?" && f.state !== "R") return null;
    return { pid: t.pid, switches: t.switches, comm: t.comm, sinceNs: nowNs, tgid: f.tgid, policy: f.policy, cpu };
  }

  private runner(sec: SchedDebugCpu, nowNs: bigint): RunningTask | undefined {
    if (sec.currPid === 0) {
      this.runners.delete(sec.cpu);
      return { cpu: sec.cpu, pid: 0, tgid: 0, prio: 140, policy: SCHED_OTHER, ranNs: 0 };
    }
    const row = sec.tasks.find((t) => t.current) ?? sec.tasks.find((t) => t.pid === sec.currPid);
    if (!row) return undefined;
    let s = this.runners.get(sec.cpu);
    if (!s || s.pid !== row.pid || s.switches !== row.switches) {
      // FIFO or RR, and the tgid, only matter (and are only read) for an RT holder.
      const f = row.prio < MAX_RT_PRIO ? this.facts(row.pid) : null;
      s = {
        pid: row.pid,
        switches: row.switches,
        comm: row.comm,
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

  /** A few lines at most: a kernel that prints something new should not flood the log. */
  private noteProblems(problems: string[]): void {
    for (const p of problems) {
      if (this.problemsNoted >= 20) return;
      this.problemsNoted++;
      this.opts.log.warn(`sched_debug: ${p}${this.problemsNoted === 20 ? " (no more of these will be logged)" : ""}`);
    }
  }

  forget(pid: number): void {
    this.waiting.delete(pid);
  }

  stats(): BackendStats {
    return { dropped: 0 };
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
