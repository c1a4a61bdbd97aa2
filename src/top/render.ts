// `stalld top`'s screen, from a model of one refresh: per monitored CPU what
// runs and what waits behind it, the DL-server, then recent events. Pure, so
// tests render fixed models.
import { policyName } from "../kernel/sched_attr";
import { escapeControls } from "../log/escape";

export interface TopTask {
  pid: number;
  comm: string;
  policy: number;
  prio: number;
}

export interface TopWaiter extends TopTask {
  waitedNs: number;
}

export interface TopCpu {
  cpu: number;
  running: TopTask | null;
  waiters: TopWaiter[];
  /** "50/1000 ms active", "off (runtime 0)", "none", "?" */
  dlServer: string;
}

export interface TopModel {
  time: Date;
  backend: string;
  thresholdS: number;
  cpus: TopCpu[];
  /** Newest last. */
  events: string[];
  /** Boosts a running daemon has in progress (its state directory). */
  boosts: string[];
}

/** SCHED_FIFO 10, SCHED_OTHER nice-ish, SCHED_DEADLINE: from the kernel prio where the policy is not enough. */
export function describeTask(t: TopTask): string {
  const name = policyName(t.policy).replace(/^SCHED_/, "");
  if (t.prio >= 0 && t.prio < 100) return `${name} ${99 - t.prio}`;
  if (t.prio >= 100) return `${name} ${t.prio - 120 >= 0 ? "+" : ""}${t.prio - 120}`;
  return name;
}

export function formatWait(ns: number): string {
  const s = ns / 1e9;
  return s >= 100 ? `${Math.round(s)} s` : `${s.toFixed(1)} s`;
}

const pad = (s: string, n: number) => (s.length >= n ? s.slice(0, n) : s + " ".repeat(n - s.length));

/** The model with every name and text line printable: names come from users (escape.ts). */
function printable(m: TopModel): TopModel {
  const task = <T extends TopTask>(t: T): T => ({ ...t, comm: escapeControls(t.comm) });
  return {
    ...m,
    cpus: m.cpus.map((c) => ({ ...c, running: c.running && task(c.running), waiters: c.waiters.map(task) })),
    events: m.events.map(escapeControls),
    boosts: m.boosts.map(escapeControls),
  };
}

/** Lines of one screen; each cut to `width` columns; nothing in them a terminal would act on. */
export function renderTop(model: TopModel, width = 100, maxWaiters = 5): string[] {
  const m = printable(model);
  const out: string[] = [];
  out.push(
    `stalld top - ${m.time.toISOString().slice(11, 19)}  backend ${m.backend}  ` +
      `starving after ${m.thresholdS} s  (q quits)`,
  );
  out.push("");
  out.push(
    `${pad("CPU", 4)} ${pad("RUNNING", 28)} ${pad("POLICY", 14)} ` +
      `${pad("WAITING", 28)} ${pad("POLICY", 14)} ${pad("WAIT", 8)} DL-SERVER`,
  );
  for (const c of m.cpus) {
    const run = c.running ? (c.running.pid === 0 ? "(idle)" : `${c.running.comm}-${c.running.pid}`) : "?";
    const runPolicy = c.running && c.running.pid !== 0 ? describeTask(c.running) : "";
    const waiters = [...c.waiters].sort((a, b) => b.waitedNs - a.waitedNs);
    const first = waiters[0];
    const mark = (w: TopWaiter) => (w.waitedNs >= m.thresholdS * 1e9 ? " STARVING" : "");
    out.push(
      `${pad(String(c.cpu), 4)} ${pad(run, 28)} ${pad(runPolicy, 14)} ` +
        `${pad(first ? `${first.comm}-${first.pid}` : "-", 28)} ${pad(first ? describeTask(first) : "", 14)} ` +
        `${pad(first ? formatWait(first.waitedNs) : "", 8)} ${c.dlServer}${first ? mark(first) : ""}`,
    );
    for (const w of waiters.slice(1, maxWaiters)) {
      out.push(
        `${pad("", 4)} ${pad("", 28)} ${pad("", 14)} ${pad(`${w.comm}-${w.pid}`, 28)} ` +
          `${pad(describeTask(w), 14)} ${pad(formatWait(w.waitedNs), 8)}${mark(w)}`,
      );
    }
    if (waiters.length > maxWaiters) out.push(`${pad("", 48)}(${waiters.length - maxWaiters} more waiting)`);
  }
  out.push("");
  out.push(m.boosts.length ? "BOOSTED NOW (by the running daemon)" : "BOOSTED NOW: none");
  for (const b of m.boosts) out.push(`  ${b}`);
  out.push("");
  out.push(m.events.length ? "RECENT" : "RECENT: nothing yet");
  for (const e of m.events.slice(-8)) out.push(`  ${e}`);
  return out.map((l) => (l.length > width ? l.slice(0, width) : l).trimEnd());
}
