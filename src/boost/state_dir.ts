// Crash safety: the state directory (--state-dir). Everything stalld changes
// is written there before it is changed and removed after it is put back: a
// boost (boost-PID-START.json), the RT throttling value (rt_runtime.json), a
// debugfs mount and HRTICK_DL (setting-NAME.json). A stalld that dies on
// SIGKILL (or an OOM kill) leaves those files; the next one finds them, sees
// their owner is dead, and puts back what is still as the dead one left it.
// Every record is checked before it is believed: a boost record's pid must be
// a positive integer matching its file name, or it is removed and said.
import { randomBytes } from "node:crypto";
import {
  closeSync,
  constants as fsc,
  fstatSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
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
  /** The file it was read from (removed by that name). */
  file: string;
}

/** A setting stalld changed (a mount, a scheduler feature), with the stalld that changed it. */
export interface SettingRecord {
  owner: Owner;
}

/** Settings recorded before they are changed: removed again once put back. */
export type SettingName = "debugfs" | "hrtick_dl";

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
const settingFile = (name: SettingName) => `setting-${name}.json`;
const TEMP_FILE = /^\..*\.tmp$/;

const isOwner = (o: unknown): o is Owner =>
  typeof o === "object" &&
  o !== null &&
  Number.isSafeInteger((o as Owner).pid) &&
  (o as Owner).pid > 0 &&
  Number.isSafeInteger((o as Owner).starttime);

/** A record's text: a regular file, never through a symlink, never blocking, at most 64 KiB. */
function readRecord(path: string): unknown {
  const fd = openSync(path, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > 65536) throw new Error("not a regular file of a record's size");
    const buf = Buffer.alloc(st.size);
    const n = readSync(fd, buf, 0, st.size, 0);
    return JSON.parse(buf.toString("utf8", 0, n));
  } finally {
    closeSync(fd);
  }
}

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

  /** Write, sync, rename: a reader sees the whole record or none; a failed write leaves nothing behind. */
  private put(name: string, value: unknown): void {
    const tmp = join(this.dir, `.${name}.${randomBytes(6).toString("hex")}.tmp`);
    const fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
    try {
      try {
        writeSync(fd, JSON.stringify(value));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, join(this.dir, name));
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
  }

  /** Removes what a write that died half-way left (a temporary file); returns how many. */
  sweep(): number {
    let n = 0;
    for (const name of readdirSync(this.dir))
      if (TEMP_FILE.test(name)) {
        rmSync(join(this.dir, name), { force: true });
        n++;
      }
    return n;
  }

  private drop(name: string): void {
    rmSync(join(this.dir, name), { force: true });
  }

  /** Removes a record by the name it was read from. */
  forgetFile(name: string): void {
    if (name.includes("/")) throw new Error(`not a record name: ${name}`);
    this.drop(name);
  }

  recordBoost(r: BoostRecordFields): void {
    this.put(`boost-${r.pid}-${r.starttime}.json`, {
      ...r,
      owner: this.owner,
      at: Date.now(),
      saved: store(r.saved),
      applied: store(r.applied),
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

  /** Boost records whose owner is no longer running. Unreadable or inconsistent ones are removed and said. */
  orphanBoosts(log: Logger, alive: (o: Owner) => boolean = ownerAlive): BoostRecord[] {
    const out: BoostRecord[] = [];
    for (const name of readdirSync(this.dir)) {
      if (!BOOST_FILE.test(name)) continue;
      try {
        const rec = readBoostRecord(this.dir, name);
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
      const rec = readRecord(join(this.dir, THROTTLING_FILE)) as ThrottlingRecord;
      return isOwner(rec.owner) && Number.isInteger(rec.runtimeUs) && !alive(rec.owner) ? rec : null;
    } catch {
      return null;
    }
  }

  /** A setting this stalld is about to change: on disk first. */
  recordSetting(name: SettingName): void {
    this.put(settingFile(name), { owner: this.owner } satisfies SettingRecord);
  }

  forgetSetting(name: SettingName): void {
    this.drop(settingFile(name));
  }

  /** A setting a dead stalld changed and did not put back, if any. */
  orphanSetting(name: SettingName, alive: (o: Owner) => boolean = ownerAlive): SettingRecord | null {
    try {
      const rec = readRecord(join(this.dir, settingFile(name))) as SettingRecord;
      return isOwner(rec.owner) && !alive(rec.owner) ? rec : null;
    } catch {
      return null;
    }
  }
}

/** A boost record, believed only when its pid and start time are those of its file name and its owner is a pid. */
function readBoostRecord(dir: string, file: string): BoostRecord {
  const m = BOOST_FILE.exec(file)!;
  const raw = readRecord(join(dir, file)) as BoostRecord & Record<string, unknown>;
  if (!Number.isSafeInteger(raw.pid) || raw.pid <= 0 || String(raw.pid) !== m[1])
    throw new Error("its pid is not the one in its name");
  if (!Number.isSafeInteger(raw.starttime) || String(raw.starttime) !== m[2])
    throw new Error("its start time is not the one in its name");
  if (!isOwner(raw.owner)) throw new Error("no owner");
  return {
    ...raw,
    file,
    comm: String(raw.comm),
    saved: load(raw.saved as unknown as StoredAttr),
    applied: load(raw.applied as unknown as StoredAttr),
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
      return [readBoostRecord(dir, n)];
    } catch {
      return [];
    }
  });
}

/**
 * Puts back the tasks a dead stalld left boosted: those still alive (same
 * start time) and not on their own policy already, changed or not. Every
 * record is removed.
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
        log.info({
          message: `pid ${rec.pid} (${rec.comm}) in a boost by ${by}, no longer exists: nothing to restore`,
          event: "orphan_gone",
          pid: rec.pid,
          comm: rec.comm,
        });
        continue;
      }
      const now = ops.get(rec.pid);
      const owned = ownership(rec, now);
      if (owned === "own") {
        log.info({
          message: `pid ${rec.pid} (${rec.comm}) in a boost by ${by}, is on its own policy already: nothing to restore`,
          event: "orphan_left",
          pid: rec.pid,
          comm: rec.comm,
        });
        continue;
      }
      // Changed since (by the task itself during its boost, say FIFO 98 lowered to 97): a boost leaves
      // nothing behind, whatever the task did, so the saved attributes go back all the same.
      if (owned === "changed")
        log.warn({
          message:
            `pid ${rec.pid} (${rec.comm}) in a boost by ${by}, is ${describeAttr(now)} now, changed during or ` +
            "since its boost: putting its saved attributes back all the same",
          event: "orphan_changed",
          pid: rec.pid,
          comm: rec.comm,
        });
      ops.set(rec.pid, rec.saved);
      restored++;
      log.info({
        message:
          `restored pid ${rec.pid} (${rec.comm}) (cpu ${rec.cpu}) to ${describeAttr(rec.saved)} ` +
          `from ${describeAttr(now)}: left in a boost by ${by}`,
        event: "restored_after_crash",
        pid: rec.pid,
        comm: rec.comm,
        cpu: rec.cpu,
        policy_before: policyName(now.policy),
        policy_after: policyName(rec.saved.policy),
      });
    } catch (e) {
      log.error({
        message:
          `restore_policy: failed to restore sched policy for pid ${rec.pid} ` +
          `left in a boost by ${by}: ${(e as Error).message}`,
        event: "restore_failed",
        pid: rec.pid,
        comm: rec.comm,
      });
    } finally {
      state.forgetFile(rec.file);
    }
  }
  return restored;
}
