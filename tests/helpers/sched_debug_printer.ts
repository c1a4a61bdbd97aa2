// Prints a scheduler debug file the way the kernel does, byte for byte: each
// task's name raw in its `%15s` column (padded by bytes, whatever bytes the
// name holds), so tests can feed the parser names no fixture has.

export interface PrintedTask {
  /** The name's bytes (1 to 15, no NUL). */
  comm: Uint8Array;
  pid: number;
  switches: number;
  prio: number;
  /** The state letter; the running one is printed `>R`. */
  state: string;
  current?: boolean;
}

export interface PrintedCpu {
  cpu: number;
  currPid: number;
  tasks: PrintedTask[];
}

/** "state3": " S %15s" (4.14-6.5, 6.8+); "state2": " S%15s" (6.6-6.7); "legacy": "R%15s" (before 4.14). */
export type RowStyle = "state3" | "state2" | "legacy";

const HEADERS: Record<RowStyle, string> = {
  state3:
    " S            task   PID       vruntime   eligible    deadline             slice          sum-exec      switches  prio         wait-time        sum-sleep       sum-block  node   group-id  group-path",
  state2:
    " S            task   PID         tree-key  switches  prio     wait-time             sum-exec        sum-sleep",
  legacy: "            task   PID         tree-key  switches  prio     wait-time             sum-exec        sum-sleep",
};

function row(t: PrintedTask, style: RowStyle): Buffer {
  const mark =
    style === "legacy" ? (t.current ? "R" : " ") : t.current ? ">R" : ` ${t.state}${style === "state3" ? " " : ""}`;
  const markBytes = Buffer.from(style === "state3" && t.current ? `${mark} ` : mark, "latin1");
  const pad = Buffer.alloc(Math.max(0, 15 - t.comm.length), " ");
  const pid = String(t.pid).padStart(5);
  const rest =
    style === "state3"
      ? ` ${pid}      1234.500000   E        1236.200000           1.400000        55.250000 ${String(t.switches).padStart(9)}   ${String(t.prio).padStart(5)}         0.000000         0.000000         0.000000   0      0        /\n`
      : style === "state2"
        ? ` ${pid}      1234.500000 E      1236.200000         2.800000        55.250000 ${String(t.switches).padStart(9)}   ${String(t.prio).padStart(5)}         0.000000         0.000000         0.000000 0 0 /\n`
        : ` ${pid}      1234.500000 ${String(t.switches).padStart(9)}   ${String(t.prio).padStart(5)}         0.000000        55.250000         0.000000 0 /\n`;
  return Buffer.concat([markBytes, pad, Buffer.from(t.comm), Buffer.from(rest, "latin1")]);
}

/** The whole file: a version line, then each CPU's counters and its task table. */
export function printSchedDebug(cpus: PrintedCpu[], style: RowStyle = "state3"): Buffer {
  const parts: Buffer[] = [Buffer.from("Sched Debug Version: v0.11, 6.18.0-test #1\nktime : 1.0\n\n")];
  for (const c of cpus) {
    const rt = c.tasks.filter((t) => t.prio < 100).length;
    parts.push(
      Buffer.from(
        `cpu#${c.cpu}, 1000.000 MHz\n  .nr_running                    : ${c.tasks.length}\n` +
          `  .curr->pid                     : ${c.currPid}\n\ncfs_rq[${c.cpu}]:/\n  .nr_running : 1\n\n` +
          `rt_rq[${c.cpu}]:\n  .rt_nr_running                 : ${rt}\n\ndl_rq[${c.cpu}]:\n  .dl_nr_running : 0\n\n` +
          `runnable tasks:\n${HEADERS[style]}\n${"-".repeat(120)}\n`,
        "latin1",
      ),
    );
    for (const t of c.tasks) parts.push(row(t, style));
    parts.push(Buffer.from("\n"));
  }
  return Buffer.concat(parts);
}

export const bytes = (s: string) => Buffer.from(s, "latin1");
