// Fakes for unit tests: a logger that records lines, timers on a fake clock,
// and sched_getattr/setattr on an in-memory task table.
import { createConsola, LogLevels } from "consola";
import type { Timers } from "../../src/boost/booster";
import type { SchedAttr, SchedOps } from "../../src/boost/sched_attr";
import { SysError } from "../../src/ffi/errno";
import type { Logger } from "../../src/log/logger";

export interface Recorded {
  level: string;
  msg: string;
}

export function recordingLogger(): { log: Logger; lines: Recorded[] } {
  const lines: Recorded[] = [];
  const log = createConsola({
    level: LogLevels.trace,
    reporters: [{ log: (o) => lines.push({ level: o.type, msg: o.args.map(String).join(" ") }) }],
  });
  return { log, lines };
}

export class FakeTimers implements Timers {
  now = 0;
  private seq = 0;
  private pending = new Map<number, { at: number; fn: () => void }>();

  set(fn: () => void, ms: number) {
    const id = ++this.seq;
    this.pending.set(id, { at: this.now + ms, fn });
    return id as unknown as ReturnType<typeof setTimeout>;
  }
  clear(t: ReturnType<typeof setTimeout>) {
    this.pending.delete(t as unknown as number);
  }
  nowMs() {
    return this.now;
  }
  /** Blocking sleeps (FIFO slices) move the clock too. */
  slept: number[] = [];
  sleepNs(ns: number) {
    this.slept.push(ns);
    this.now += ns / 1e6;
  }
  get size() {
    return this.pending.size;
  }
  /** Moves the clock, firing due timers in order. */
  advance(ms: number) {
    const end = this.now + ms;
    for (;;) {
      const due = [...this.pending.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.pending.delete(due[0]);
      this.now = due[1].at;
      due[1].fn();
    }
    this.now = end;
  }
}

export class FakeSched implements SchedOps {
  tasks = new Map<number, SchedAttr>();
  sets: { pid: number; attr: SchedAttr }[] = [];
  /** errno to throw on the next get/set of a pid. */
  failGet = new Map<number, number>();
  failSet = new Map<number, number>();

  get(pid: number): SchedAttr {
    const e = this.failGet.get(pid);
    if (e) throw new SysError("sched_getattr", e);
    const a = this.tasks.get(pid);
    if (!a) throw new SysError("sched_getattr", 3);
    return { ...a };
  }
  set(pid: number, attr: SchedAttr): void {
    const e = this.failSet.get(pid);
    if (e) throw new SysError("sched_setattr", e);
    if (!this.tasks.has(pid)) throw new SysError("sched_setattr", 3);
    this.sets.push({ pid, attr: { ...attr } });
    this.tasks.set(pid, { ...attr });
  }
}

export const fifo = (priority: number, flags = 0n): SchedAttr => ({
  policy: 1,
  flags,
  nice: 0,
  priority,
  runtimeNs: 0n,
  deadlineNs: 0n,
  periodNs: 0n,
});
