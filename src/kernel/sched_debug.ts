// The scheduler's debug file (/sys/kernel/debug/sched/debug, /proc/sched_debug
// before 5.13): per CPU, a few counters and a table of the tasks on it. Its
// layout changed with kernels, so the task table is read through its own
// header line, never through fixed column numbers. A row that does not parse
// completely is skipped and reported, never guessed: a wrong pid would be
// boosted.

export const SCHED_DEBUG_PATHS = ["/sys/kernel/debug/sched/debug", "/proc/sched_debug"] as const;

/**
 * "state": 4.14+, a state letter per row (`>R` marks the running task).
 * "legacy": before 4.14, only the running task is marked (`R`); the others'
 * state must be read from /proc.
 */
export type TaskTableLayout = "state" | "legacy";

export interface SchedDebugTask {
  /** R, S, D, I, X...; "?" in the legacy layout (not shown). */
  state: string;
  current: boolean;
  comm: string;
  pid: number;
  /** Voluntary plus involuntary context switches: it changes whenever the task leaves the CPU. */
  switches: number;
  /** Kernel prio: -1 DEADLINE, 0..99 RT, 100..139 fair. */
  prio: number;
}

export interface SchedDebugCpu {
  cpu: number;
  currPid: number | null;
  nrRunning: number | null;
  rtNrRunning: number | null;
  dlNrRunning: number | null;
  tasks: SchedDebugTask[];
  /**
   * True once its task table ended with the blank line the kernel prints after it:
   * anything less is a truncated read.
   */
  complete: boolean;
}

export interface SchedDebug {
  /** The first line's "v0.11, 6.18.44-..." or null. */
  version: string | null;
  layout: TaskTableLayout;
  cpus: Map<number, SchedDebugCpu>;
  /** Lines that looked like task rows but did not parse: skipped. */
  problems: string[];
}

export class SchedDebugFormatError extends Error {
  constructor(message: string) {
    super(`sched_debug: ${message}`);
    this.name = "SchedDebugFormatError";
  }
}

/** What a task table's header says about its rows. */
export interface TableHeader {
  layout: TaskTableLayout;
  /** Column where the right-aligned comm ends (the end of the "task" label); rows may be one off. */
  commEnd: number;
  /** A load weight column between PID and vruntime (some 6.x trees). */
  weight: boolean;
}

export function parseTableHeader(line: string): TableHeader {
  const trimmed = line.trimStart();
  const layout: TaskTableLayout | null = /^S\s+task\s/.test(trimmed)
    ? "state"
    : /^task\s+PID\s/.test(trimmed)
      ? "legacy"
      : null;
  if (!layout) throw new SchedDebugFormatError(`unknown task table header "${line.trim().slice(0, 60)}"`);
  if (!/\sswitches\s+prio(\s|$)/.test(line))
    throw new SchedDebugFormatError(
      `task table header without switches and prio columns: "${line.trim().slice(0, 60)}"`,
    );
  return { layout, commEnd: line.indexOf("task") + 4, weight: /\sPID\s+weight\s/.test(line) };
}

const INT = /^\d+$/;
const PRIO = /^-?\d+$/;
const DECIMAL = /^-?\d+\.\d+$/;

/**
 * switches and prio in the columns after the pid. Their position moved with
 * kernels (6.6 added eligible/deadline/slice before them, 6.12 an unlabelled
 * custom-slice S, and 6.6's header did not follow its rows), but they are
 * always the first two whole numbers in a row after the first decimal (the
 * vruntime or tree-key), and only decimals and letters come between.
 */
export function switchesAndPrio(tokens: readonly string[]): { switches: string; prio: string } | null {
  const first = tokens.findIndex((t) => DECIMAL.test(t));
  if (first < 0) return null;
  for (let i = first + 1; i + 1 < tokens.length; i++) {
    if (INT.test(tokens[i]!) && PRIO.test(tokens[i + 1]!)) return { switches: tokens[i]!, prio: tokens[i + 1]! };
    if (!DECIMAL.test(tokens[i]!) && !/^[A-Z]$/.test(tokens[i]!)) return null;
  }
  return null;
}

/** One task row, or a string saying why it is not one. */
export function parseTaskRow(line: string, h: TableHeader): SchedDebugTask | string {
  let state: string;
  let current = false;
  let start: number;
  if (h.layout === "state") {
    const mark = line.slice(0, 2);
    if (mark === ">R") {
      current = true;
      state = "R";
    } else if (/^ [A-Za-z]$/.test(mark)) state = mark[1]!;
    else return "no state mark";
    start = 2;
  } else {
    if (line[0] === "R") {
      current = true;
      state = "R";
    } else if (line[0] === " ") state = "?";
    else return "no running mark";
    start = 1;
  }
  const named = commAndPid(line, start, h);
  if (!named) return "no comm and pid";
  const cols = switchesAndPrio(named.rest.trim().split(/ +/));
  if (!cols) return "no switches and prio";
  const p = Number(cols.prio);
  if (p < -1 || p > 139) return `prio ${p} out of range`;
  if (named.pid <= 0) return "pid 0";
  return { state, current, comm: named.comm, pid: named.pid, switches: Number(cols.switches), prio: p };
}

/**
 * The comm is printed right-aligned in 15 columns, so it may hold spaces and
 * digits. Where a window fits (the comm's last character under the end of
 * "task", or one off: 6.6 dropped the space after the state, and a space
 * after it), the comm is exactly that window. Otherwise (a comm longer than
 * the window) the first "name pid tree-key" split is taken.
 */
function commAndPid(line: string, start: number, h: TableHeader): { comm: string; pid: number; rest: string } | null {
  const after = h.weight ? /^ +(\d+) +(\d+ +-?\d+\.\d+(?: .*)?)$/ : /^ +(\d+) +(-?\d+\.\d+(?: .*)?)$/;
  for (const end of [h.commEnd, h.commEnd - 1, h.commEnd + 1]) {
    if (end <= start || line[end - 1] === " " || line[end] !== " ") continue;
    const m = after.exec(line.slice(end));
    const comm = line.slice(start, end).trimStart();
    if (m && comm) return { comm, pid: Number(m[1]), rest: m[2]! };
  }
  const m = new RegExp(`^ *(.+?)${after.source.slice(1)}`).exec(line.slice(start));
  return m ? { comm: m[1]!, pid: Number(m[2]), rest: m[3]! } : null;
}

const CPU_LINE = /^cpu#(\d+)(?:,.*)?$/;
const VALUE_LINE = /^\s+\.([\w>.-]+)\s*:\s*(-?\d+)/;

type Block = "cpu" | "cfs" | "rt" | "dl" | "other";

export interface ParseOptions {
  /** Only these CPUs' task rows are read (the other sections' rows are skipped unread). */
  cpus?: ReadonlySet<number>;
  /** Only rows that can be waiting or running: R and >R where states are shown. */
  runnableOnly?: boolean;
}

const GT = 62; // ">"
const SPACE = 32;
const R = 82;

/**
 * Parses the file, as text or as the bytes read; throws SchedDebugFormatError
 * when it is not one. A pass reads it with options: with 10,000 threads the
 * tables are megabytes, only the runnable rows of the monitored CPUs matter,
 * and from bytes a skipped row is never even decoded.
 */
export function parseSchedDebug(input: string | Uint8Array, opts: ParseOptions = {}): SchedDebug {
  const bytes = typeof input === "string" ? null : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const text = typeof input === "string" ? input : "";
  const nextNewline = bytes ? (from: number) => bytes.indexOf(10, from) : (from: number) => text.indexOf("\n", from);
  const charAt = bytes ? (i: number) => bytes[i] ?? -1 : (i: number) => text.charCodeAt(i);
  const slice = bytes
    ? (a: number, b: number) => bytes.toString("utf8", a, b)
    : (a: number, b: number) => text.slice(a, b);

  const version =
    /^Sched Debug Version: (.*)$/m.exec(slice(0, Math.min(200, bytes ? bytes.length : text.length)))?.[1]?.trim() ??
    null;
  const cpus = new Map<number, SchedDebugCpu>();
  const problems: string[] = [];
  let layout: TaskTableLayout | null = null;
  let cur: SchedDebugCpu | null = null;
  let block: Block = "other";
  let rtSeen = false; // several rt_rq blocks with RT_GROUP_SCHED: the root one counts
  let header: TableHeader | null = null;
  /** 0: not in a table, 1: header next, 2: dashes next, 3: rows. */
  let table = 0;
  let readRows = true;

  // A read that stopped mid-line leaves a partial row: a line counts only with its newline.
  for (let pos = 0, end = nextNewline(0); end >= 0; pos = end + 1, end = nextNewline(pos)) {
    if (table === 3 && end > pos) {
      // Rows: the hot loop. Skipped ones are never sliced.
      if (!readRows) continue;
      const c0 = charAt(pos);
      if (opts.runnableOnly && header!.layout === "state" && !(c0 === GT || (c0 === SPACE && charAt(pos + 1) === R)))
        continue;
      const line = slice(pos, end);
      if (line.trim() !== "") {
        const row = parseTaskRow(line, header!);
        if (typeof row === "string") problems.push(`cpu ${cur!.cpu}: ${row}: "${line.trim().slice(0, 80)}"`);
        else cur!.tasks.push(row);
        continue;
      }
    }
    const line = slice(pos, end);
    if (charAt(pos) === 99 /* c */) {
      const cpuHead = CPU_LINE.exec(line);
      if (cpuHead) {
        cur = {
          cpu: Number(cpuHead[1]),
          currPid: null,
          nrRunning: null,
          rtNrRunning: null,
          dlNrRunning: null,
          tasks: [],
          complete: false,
        };
        cpus.set(cur.cpu, cur);
        block = "cpu";
        rtSeen = false;
        table = 0;
        readRows = !opts.cpus || opts.cpus.has(cur.cpu);
        continue;
      }
    }
    if (!cur) continue;
    if (table === 3) {
      // The blank line that ends a table.
      cur.complete = true;
      table = 0;
      block = "other";
      continue;
    }
    if (table === 1) {
      if (line.trim() === "") continue;
      header = parseTableHeader(line);
      if (layout && layout !== header.layout)
        throw new SchedDebugFormatError(`cpu ${cur.cpu}: task table layout changes mid-file`);
      layout = header.layout;
      table = 2;
      continue;
    }
    if (table === 2) {
      if (!/^-+\s*$/.test(line))
        throw new SchedDebugFormatError(`cpu ${cur.cpu}: no dashed line under the task table header`);
      table = 3;
      continue;
    }
    if (/^runnable tasks:\s*$/.test(line)) {
      table = 1;
      continue;
    }
    const rq = /^(cfs|rt|dl)_rq\[\d+\]:(.*)$/.exec(line);
    if (rq) {
      const root = rq[2] === "" || rq[2] === "/";
      if (rq[1] === "rt") {
        block = root && !rtSeen ? "rt" : "other";
        if (root) rtSeen = true;
      } else block = rq[1] === "dl" ? "dl" : "cfs";
      continue;
    }
    const v = VALUE_LINE.exec(line);
    if (!v) continue;
    const n = Number(v[2]);
    if (block === "cpu" && v[1] === "curr->pid") cur.currPid = n;
    else if (block === "cpu" && v[1] === "nr_running") cur.nrRunning = n;
    else if (block === "rt" && v[1] === "rt_nr_running") cur.rtNrRunning = n;
    else if (block === "dl" && v[1] === "dl_nr_running") cur.dlNrRunning = n;
  }
  if (!cpus.size) throw new SchedDebugFormatError("no per-CPU section (cpu#N): not the scheduler's debug file");
  if (!layout) throw new SchedDebugFormatError("no task table (runnable tasks:) in any CPU section");
  return { version, layout, cpus, problems };
}
