// `stalld top`: a live view for foreground debugging. It loads a backend
// itself, observe-only (nothing is boosted, nothing on the system changes),
// and refreshes about once a second: per CPU what runs and what waits, the
// DL-server, boosts the running daemon has in progress, recent events.
// On a terminal it redraws in place (q quits); otherwise it prints plain blocks.
// With a backend that reads debugfs it mounts it if needed, and unmounts it at exit.

import { writeSync } from "node:fs";
import { resolve } from "node:path";
import { type ArgsDef, defineCommand } from "citty";
import type { Backend, BackendSpec, Snapshot } from "../backends/backend";
import { BACKENDS, backendByName } from "../backends/registry";
import { NoBackend, startFirstAvailable } from "../backends/select";
import { listBoostRecords } from "../boost/state_dir";
import { DEFAULTS, RANGES } from "../config";
import { sameEpisode } from "../daemon/detect";
import { Lifecycle } from "../daemon/lifecycle";
import { EXIT, Exit, requireRoot } from "../errors";
import { monotonicNs } from "../ffi/libc";
import { onlineCpus, possibleCpus } from "../kernel/cpus";
import { DlServerWatch, describeDlServer } from "../kernel/dl_server";
import { openDlServerSource } from "../kernel/dl_server_bpf";
import { ensureMounted, unmount } from "../kernel/mounts";
import { readComm } from "../kernel/proc";
import { describeAttr } from "../kernel/sched_attr";
import { silentLog } from "../log/logger";
import { renderTop, type TopCpu, type TopModel } from "../top/render";
import { backendArg, btfArg, cpuArg, stateDirArg, thresholdArg } from "./args";
import { cpuListArg, integer, backendArg as parseBackend, rejectUnknown } from "./options";

const args = {
  ...cpuArg,
  ...backendArg,
  ...thresholdArg,
  iterations: { type: "string", alias: "n", valueHint: "N", description: "stop after N refreshes" },
  ...stateDirArg,
  ...btfArg,
} as const satisfies ArgsDef;

const commOf = (pid: number) => readComm(pid) ?? "?";

const clock = (d: Date) => d.toISOString().slice(11, 19);

/** The running daemon's boosts, from its state directory. */
function boostsInProgress(dir: string): string[] {
  return listBoostRecords(dir).map(
    (r) =>
      `${r.comm}-${r.pid} on CPU ${r.cpu}: ${describeAttr(r.applied)} since ${clock(new Date(r.at))} ` +
      `(stalld pid ${r.owner.pid})`,
  );
}

/** Starving episodes, said once when they start and once when the task runs again. */
class EventLog {
  readonly lines: string[] = [];
  private starving = new Map<number, { since: number; comm: string; cpu: number }>();

  update(snap: Snapshot, thresholdNs: number, now: Date): void {
    const nowNs = Number(snap.nowNs);
    const seen = new Map<number, { since: number; comm: string; cpu: number }>();
    for (const w of snap.waiters) {
      if (w.waitedNs < thresholdNs) continue;
      const since = nowNs - w.waitedNs;
      const prev = this.starving.get(w.pid);
      const cur = prev && sameEpisode(prev.since, since) ? prev : { since, comm: commOf(w.pid), cpu: w.cpu };
      if (cur !== prev) {
        const r = snap.running[w.cpu];
        this.push(
          `${clock(now)} ${cur.comm}-${w.pid} starving on CPU ${w.cpu}` +
            `${r?.pid ? ` behind ${commOf(r.pid)}-${r.pid}` : ""} (waited ${(w.waitedNs / 1e9).toFixed(1)} s)`,
        );
      }
      seen.set(w.pid, cur);
    }
    for (const [pid, s] of this.starving)
      if (!seen.has(pid))
        this.push(
          `${clock(now)} ${s.comm}-${pid} no longer starving on CPU ${s.cpu} ` +
            `(after ${((nowNs - s.since) / 1e9).toFixed(1)} s)`,
        );
    this.starving = seen;
  }

  private push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > 50) this.lines.shift();
  }
}

export default defineCommand({
  meta: { name: "top", description: "Live view of run queues on the monitored CPUs (observe-only; q quits)" },
  args,
  run: async ({ args: parsed }) => {
    rejectUnknown(parsed, args);
    const online = onlineCpus();
    const cpus = parsed.cpu === undefined ? online : cpuListArg("-c/--cpu", parsed.cpu, online, possibleCpus().length);
    const backendName = parseBackend(parsed.backend);
    const thresholdS = integer(parsed["starving-threshold"], RANGES.threshold, DEFAULTS.thresholdS);
    const iterations = integer(parsed.iterations, RANGES.iterations, Infinity);
    const stateDir = resolve(String(parsed["state-dir"] ?? DEFAULTS.stateDir));
    const btfPath = parsed.btf === undefined ? null : resolve(String(parsed.btf));
    requireRoot("stalld top", "it loads a backend");

    // Observe-only, but a backend that reads debugfs needs it mounted: that is undone at exit.
    const life = new Lifecycle(silentLog);
    let backend: Backend;
    try {
      // Every waiter is wanted here, not only those near a threshold.
      const specs: readonly BackendSpec[] = backendName ? [backendByName(backendName)] : BACKENDS;
      backend = startFirstAvailable(
        specs,
        (spec) => {
          if (spec.needsDebugfs && ensureMounted("debugfs")) life.push("debugfs mount", () => unmount("debugfs"));
          return spec.make({ cpus, thresholdS: 1, granularityS: 1, btfPath, log: silentLog });
        },
        silentLog,
      );
    } catch (e) {
      life.unwind("no backend");
      if (e instanceof NoBackend) throw new Exit(EXIT.environment, `no backend can run: ${e.message}`);
      throw e;
    }
    life.push("backend", () => backend.stop());
    const dl = openDlServerSource(cpus, silentLog, btfPath ?? undefined);
    life.push("DL-server reader", () => dl.close());
    const dlWatch = new DlServerWatch(() => dl.read());
    const events = new EventLog();
    const tty = Boolean(process.stdout.isTTY);

    let done = false;
    let timer: ReturnType<typeof setInterval> | undefined;
    const finish = () => {
      if (done) return;
      done = true;
      if (timer) clearInterval(timer);
      life.unwind("done");
      if (tty) {
        writeSync(1, "\x1b[?25h\x1b[?1049l");
        if (process.stdin.isTTY) process.stdin.setRawMode(false);
        process.stdin.pause();
      }
    };
    const exit = (code: number) => {
      finish();
      process.exit(code);
    };
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, () => exit(EXIT.ok));
    if (tty) {
      writeSync(1, "\x1b[?1049h\x1b[?25l");
      if (process.stdin.isTTY) {
        process.stdin.setRawMode(true);
        process.stdin.resume();
        process.stdin.on("data", (d: Buffer) => {
          const k = d.toString();
          if (k === "q" || k === "Q" || k === "\x03") exit(EXIT.ok);
        });
      }
    }

    let count = 0;
    const refresh = () => {
      const now = new Date();
      const dlView = dlWatch.get(Number(monotonicNs()));
      const snap = backend.snapshot();
      events.update(snap, thresholdS * 1e9, now);
      const model: TopModel = {
        time: now,
        backend: backend.name,
        thresholdS,
        events: events.lines,
        boosts: boostsInProgress(stateDir),
        cpus: cpus.map((cpu): TopCpu => {
          const r = snap.running[cpu];
          return {
            cpu,
            running: r ? { pid: r.pid, comm: r.pid ? commOf(r.pid) : "", policy: r.policy, prio: r.prio } : null,
            waiters: snap.waiters
              .filter((w) => w.cpu === cpu)
              .map((w) => ({ pid: w.pid, comm: commOf(w.pid), policy: w.policy, prio: w.prio, waitedNs: w.waitedNs })),
            dlServer: describeDlServer(dlView, cpu),
          };
        }),
      };
      const width = tty ? (process.stdout.columns ?? 100) : 200;
      const lines = renderTop(model, width);
      if (tty) writeSync(1, `\x1b[H${lines.join("\x1b[K\n")}\x1b[K\x1b[J`);
      else writeSync(1, `${lines.join("\n")}\n\n`);
      if (++count >= iterations) exit(EXIT.ok);
    };
    timer = setInterval(refresh, 1000);
    refresh();
    await new Promise(() => {});
  },
});
