// Crash safety: the state directory (--state-dir). A boost is written there before it is
// applied and removed after its restore, and the RT throttling value before
// throttling is turned off. A stalld that dies on SIGKILL (or an OOM kill)
// leaves those files; the next one finds them, sees their owner is dead, and
// puts back what is still as the dead one left it.
import {
  closeSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { readTaskStat } from "../kernel/proc";
import { describeAttr, policyName, type SchedAttr, type SchedOps } from "../kernel/sched_attr";
import type { Logger } from "../log/logger";
import { ownership } from "./policy";
import type { BoostRecordFields, BoostRecords } from "./types";

/** A process, told apart from a later one with the same pid by its start time. */
export interface Owner {
  pid: number;
  starttime: number;
}

type StoredAttr = Omit<SchedAttr, "flags" | "runtimeNs" | "deadlineNs" | "periodNs"> & {
  flags: string;
  runtimeNs: string;
  deadlineNs: string;
  periodNs: string;
};

export interface BoostRecord extends BoostRecordFields {
  owner: Owner;
  /** Wall clock, ms. */
  at: number;
}

export interface ThrottlingRecord {
  owner: Owner;
  /** sched_rt_runtime_us before stalld turned throttling off. */
  runtimeUs: number;
}

const store = (a: SchedAttr): StoredAttr => ({
  ...a,
  flags: String(a.flags),
  runtimeNs: String(a.runtimeNs),
  deadlineNs: String(a.deadlineNs),
  periodNs: String(a.periodNs),
});
const load = (a: StoredAttr): SchedAttr => ({
  ...a,
  flags: BigInt(a.flags),
  runtimeNs: BigInt(a.runtimeNs),
  deadlineNs: BigInt(a.deadlineNs),
  periodNs: BigInt(a.periodNs),
});

export class StateDirError extends Error {}

export function selfOwner(): Owner {
  return { pid: process.pid, starttime: readTaskStat(process.pid)?.starttime ?? 0 };
}

export function ownerAlive(o: Owner): boolean {
  return readTaskStat(o.pid)?.starttime === o.starttime;
}

const BOOST_FILE = /^boost-(\d+)-(\d+)\.json$/;
const THROTTLING_FILE = "rt_runtime.json";

/** The state directory: created 0700, and refused unless it is a real directory owned by root. */
export class StateDir implements BoostRecords {
  constructor(
    readonly dir: string,
    private readonly owner: Owner,
  ) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new StateDirError(`state directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const st = lstatSync(dir);
    if (!st.isDirectory()) throw new StateDirError(`state directory ${dir} is not a directory (a symlink?)`);
    if (st.uid !== 0 || st.mode & 0o022)
      throw new StateDirError(`state directory ${dir} must be owned by root and writable by root only`);
  }

  /** Write, sync, rename: a reader sees the whole record or none. */
  private put(name: string, value: unknown): void {
    const tmp = join(this.dir, `.${name}.${process.pid}.tmp`);
    const fd = openSync(tmp, "wx", 0o600);
    try {
      writeSync(fd, JSON.stringify(value));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(this.dir, name));
  }

  private drop(name: string): void {
    rmSync(join(this.dir, name), { force: true });
  }

  recordBoost(r: BoostRecordFields): void {
    const raisedFrom = r.raisedFrom ? store(r.raisedFrom) : undefined;
    this.put(`boost-${r.pid}-${r.starttime}.json`, {
      ...r,
      owner: this.owner,
      at: Date.now(),
      saved: store(r.saved),
      applied: store(r.applied),
      raisedFrom,
    });
  }

  forgetBoost(pid: number, starttime: number): void {
    this.drop(`boost-${pid}-${starttime}.json`);
  }

  recordThrottling(runtimeUs: number): void {
    this.put(THROTTLING_FILE, { owner: this.owner, runtimeUs } satisfies ThrottlingRecord);
  }

  forgetThrottling(): void {
    this.drop(THROTTLING_FILE);
  }

  /** Boost records whose owner is no longer running. Unreadable ones are removed and reported. */
  orphanBoosts(log: Logger, alive: (o: Owner) => boolean = ownerAlive): BoostRecord[] {
    const out: BoostRecord[] = [];
    for (const name of readdirSync(this.dir)) {
      if (!BOOST_FILE.test(name)) continue;
      try {
        const rec = readBoostRecord(join(this.dir, name));
        if (!alive(rec.owner)) out.push(rec);
      } catch (e) {
        log.warn(`state file ${join(this.dir, name)} is unreadable (${(e as Error).message}); removed`);
        this.drop(name);
      }
    }
    return out;
  }

  /** The throttling record of a dead owner, if any. */
  orphanThrottling(alive: (o: Owner) => boolean = ownerAlive): ThrottlingRecord | null {
    try {
      const rec = JSON.parse(readFileSync(join(this.dir, THROTTLING_FILE), "utf8")) as ThrottlingRecord;
      return Number.isInteger(rec.runtimeUs) && !alive(rec.owner) ? rec : null;
    } catch {
      return null;
    }
  }
}

function readBoostRecord(path: string): BoostRecord {
  const raw = JSON.parse(readFileSync(path, "utf8"));
  return {
    ...raw,
    saved: load(raw.saved),
    applied: load(raw.applied),
    raisedFrom: raw.raisedFrom ? load(raw.raisedFrom) : undefined,
  };
}

/** Every readable boost record in a state directory, whoever wrote it (stalld top shows them); [] when unreadable. */
export function listBoostRecords(dir: string): BoostRecord[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => BOOST_FILE.test(n));
  } catch {
    return [];
  }
  return names.flatMap((n) => {
    try {
      return [readBoostRecord(join(dir, n))];
    } catch {
      return [];
    }
  });
}

/**
 * Puts back the tasks a dead stalld left boosted: only those still alive (same
 * start time) and still as it left them. Every record is removed.
 */
export function restoreOrphans(
  state: StateDir,
  ops: SchedOps,
  log: Logger,
  starttime: (pid: number) => number | null = (pid) => readTaskStat(pid)?.starttime ?? null,
): number {
  let restored = 0;
  for (const rec of state.orphanBoosts(log)) {
    const by = `stalld pid ${rec.owner.pid}, which died during the boost`;
    try {
      if (starttime(rec.pid) !== rec.starttime) {
        log.info(`pid ${rec.pid} (${rec.comm}) boosted by ${by}, no longer exists: nothing to restore`);
        continue;
      }
      const now = ops.get(rec.pid);
      const owned = ownership(rec, now);
      if (owned !== "boost") {
        const what = owned === "own" ? " (its own policy)" : ", changed since";
        log.info(`pid ${rec.pid} (${rec.comm}) boosted by ${by}, is ${describeAttr(now)} now${what}: left as it is`);
        continue;
      }
      ops.set(rec.pid, rec.saved);
      restored++;
      log.info({
        message:
          `restored pid ${rec.pid} (${rec.comm}) (cpu ${rec.cpu}) to ${describeAttr(rec.saved)} ` +
          `from ${describeAttr(now)}: boosted by ${by}`,
        event: "restored_after_crash",
        pid: rec.pid,
        comm: rec.comm,
        cpu: rec.cpu,
        policy_before: policyName(now.policy),
        policy_after: policyName(rec.saved.policy),
      });
    } catch (e) {
      log.error(
        `restore_policy: failed to restore sched policy for pid ${rec.pid} ` +
          `left boosted by ${by}: ${(e as Error).message}`,
      );
    } finally {
      state.forgetBoost(rec.pid, rec.starttime);
    }
  }
  return restored;
}
