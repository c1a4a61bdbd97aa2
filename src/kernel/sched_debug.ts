// The scheduler's debug file (/sys/kernel/debug/sched/debug, /proc/sched_debug
// before 5.13): per CPU, a few counters and a table of the tasks on it.
//
// It is read as bytes, and a task row by its columns, never by its lines: the
// kernel prints each task's name raw (`%15s` of p->comm), and a name may hold
// a newline, CR or ESC (prctl(PR_SET_NAME) stores any byte but NUL). So a row
// is its state mark, then exactly the 15 bytes of the name's column, whatever
// they hold, then the numbers up to the end of the line. A section that does
// not read exactly that way (a row that does not parse, a pid twice, a second
// table or a second section for the same CPU) is marked malformed and nothing
// of it is used that pass: never a guessed pid, never a partial answer.

export const SCHED_DEBUG_PATHS = ["/sys/kernel/debug/sched/debug", "/proc/sched_debug"] as const;

/**
 * "state": 4.14+, a state letter per row (`>R` marks the running task).
 * "legacy": before 4.14, only the running task is marked (`R`); the others'
 * state must be read from /proc.
 */
export type TaskTableLayout = "state" | "legacy";

/** Bytes of the name column: p->comm is at most 15 bytes (TASK_COMM_LEN 16), printed `%15s`. */
export const COMM_FIELD = 15;

export interface SchedDebugTask {
  /** R, S, D, I, X...; "?" in the legacy layout (not shown). */
  state: string;
  current: boolean;
  /** The name column exactly as printed: 15 bytes, one char per byte (latin1), left-padded with spaces. */
  commField: string;
  /** The name without its padding, decoded as UTF-8 (for display; unescaped). */
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
  /** True once its task table ended with the blank line the kernel prints after it: anything less is a cut read. */
  complete: boolean;
  /** Why the section cannot be trusted (then nothing of it is used); null when it read exactly. */
  malformed: string | null;
}

export interface SchedDebug {
  /** The first line's "v0.11, 6.18.44-..." or null. */
  version: string | null;
  layout: TaskTableLayout;
  cpus: Map<number, SchedDebugCpu>;
  /** One line per malformed section: "cpu N: why". */
  problems: string[];
  /** Where the name column starts in a row (after the state mark, with or without a space). */
  rowOffset: number;
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
  const shown = JSON.stringify(line.trim().slice(0, 60));
  if (!layout) throw new SchedDebugFormatError(`unknown task table header ${shown}`);
  if (!/\sswitches\s+prio(\s|$)/.test(line))
    throw new SchedDebugFormatError(`task table header without switches and prio columns: ${shown}`);
  return { layout, weight: /\sPID\s+weight\s/.test(line) };
}

/**
 * Where a row's name column may start: after the 1-byte legacy mark; after
 * the 2-byte state mark, then a space on most kernels, none on 6.6-6.7
 * (whose header was not updated). The rows decide (rowOffsetOf).
 */
export function rowOffsets(layout: TaskTableLayout): number[] {
  return layout === "legacy" ? [1] : [3, 2];
}

const INT = /^\d+$/;
const PRIO = /^-?\d+$/;
const DECIMAL = /^-?\d+\.\d+$/;

/**
 * switches and prio in the columns after the pid. Their position moved with
 * kernels (6.6 added eligible/deadline/slice before them, 6.12 an unlabelled
 * custom-slice S), but they are always the first two whole numbers in a row
 * after the first decimal (the vruntime or tree-key), and only decimals and
 * letters come between.
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

const NL = 10;
const SPACE = 32;
const GT = 62;
const R = 82;

/** A row's mark: its state, whether it runs, and the mark's length; null when the bytes are no mark. */
function markAt(b: Buffer, p: number, layout: TaskTableLayout): { state: string; current: boolean } | null {
  if (layout === "legacy") {
    if (b[p] === R) return { state: "R", current: true };
    return b[p] === SPACE ? { state: "?", current: false } : null;
  }
  if (b[p] === GT && b[p + 1] === R) return { state: "R", current: true };
  const c = b[p + 1]!;
  const letter = (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
  return b[p] === SPACE && letter ? { state: String.fromCharCode(c), current: false } : null;
}

/** A name column without its left padding (only spaces: a name may begin with a newline). */
export function unpadded(commField: string): string {
  return commField.replace(/^ +/, "");
}

/** The name column's bounds for a row at p, or null when the bytes around it are not where they must be. */
function commAt(b: Buffer, p: number, offset: number, markLen: number): number | null {
  const start = p + offset;
  if (offset > markLen && b[p + markLen] !== SPACE) return null;
  if (start + COMM_FIELD >= b.length || b[start + COMM_FIELD] !== SPACE) return null;
  return start;
}

/** The end of a row (its newline), skipping the name column; -1 when the read stopped before it. */
function rowEnd(b: Buffer, commStart: number): number {
  return b.indexOf(NL, commStart + COMM_FIELD);
}

/** One task row at p, or why it is not one. `end` is the row's newline. */
export function parseRowAt(b: Buffer, p: number, end: number, h: TableHeader, offset: number): SchedDebugTask | string {
  const mark = markAt(b, p, h.layout);
  if (!mark) return "no state mark";
  const markLen = h.layout === "legacy" ? 1 : 2;
  const start = commAt(b, p, offset, markLen);
  if (start === null) return "no name column";
  const tokens = b
    .toString("latin1", start + COMM_FIELD, end)
    .trim()
    .split(/ +/);
  const pidTok = tokens.shift();
  if (!pidTok || !INT.test(pidTok)) return "no pid after the name column";
  if (h.weight && !INT.test(tokens.shift() ?? "")) return "no weight";
  const cols = switchesAndPrio(tokens);
  if (!cols) return "no switches and prio";
  const pid = Number(pidTok);
  const prio = Number(cols.prio);
  if (pid <= 0 || !Number.isSafeInteger(pid)) return `pid ${pidTok}`;
  if (prio < -1 || prio > 139) return `prio ${prio} out of range`;
  const commField = b.toString("latin1", start, start + COMM_FIELD);
  const comm = Buffer.from(unpadded(commField), "latin1").toString("utf8");
  return { ...mark, commField, comm, pid, switches: Number(cols.switches), prio };
}

/** A row's text for a problem line: printable ASCII only, at most 60 characters. */
function shown(b: Buffer, p: number, end: number): string {
  const raw = b.toString("latin1", p, Math.min(end < 0 ? b.length : end, p + 60));
  return JSON.stringify(raw).replace(/[^\x20-\x7e]/g, "?");
}

interface TableRead {
  tasks: SchedDebugTask[];
  /** Position after the table's blank line; -1: the read stopped inside the table. */
  next: number;
  malformed: string | null;
  /** The rows' shape did not fit the offset (rather than a row's numbers). */
  structural: boolean;
  /** Name columns ending in a space: the separator, under the wrong offset. */
  trailing: number;
}

/**
 * The rows from p up to the table's blank line, with the name column at
 * `offset`. Every row is walked over (mark, name column, separator); only
 * the wanted ones (this CPU is monitored, runnable with runnableOnly) are
 * decoded.
 */
function readTable(b: Buffer, p: number, h: TableHeader, offset: number, wanted: boolean, runnableOnly: boolean) {
  const out: TableRead = { tasks: [], next: -1, malformed: null, structural: false, trailing: 0 };
  const markLen = h.layout === "legacy" ? 1 : 2;
  const pids = new Set<number>();
  let running = 0;
  while (p < b.length) {
    if (b[p] === NL) {
      out.next = p + 1;
      return out;
    }
    const mark = markAt(b, p, h.layout);
    // The read stopped inside this row (its name column may hold newlines): a cut, not a malformed row.
    if (b.indexOf(NL, p) < 0 || (mark && p + offset + COMM_FIELD >= b.length)) return out;
    const start = mark && commAt(b, p, offset, markLen);
    if (!mark || start === null) {
      out.structural = true;
      out.malformed ??= `not a task row: ${shown(b, p, b.indexOf(NL, p))}`;
      const nl = b.indexOf(NL, p);
      if (nl < 0) return out;
      p = nl + 1;
      continue;
    }
    const end = rowEnd(b, start);
    if (end < 0) return out;
    if (b[start + COMM_FIELD - 1] === SPACE) out.trailing++;
    if (wanted && (!runnableOnly || h.layout === "legacy" || mark.state === "R")) {
      const row = parseRowAt(b, p, end, h, offset);
      if (typeof row === "string") out.malformed ??= `${row}: ${shown(b, p, end)}`;
      else if (pids.has(row.pid)) out.malformed ??= `pid ${row.pid} twice`;
      else if (row.current && ++running > 1) out.malformed ??= "two running tasks";
      else {
        pids.add(row.pid);
        out.tasks.push(row);
      }
    }
    p = end + 1;
  }
  return out;
}

/**
 * The name column's offset in a table: the one under which every row has
 * its shape. When both fit, the one whose columns do not end in a space (the
 * wrong one shifts the separator into them); when neither, `fallback`. Every
 * CPU's table lists its per-CPU kernel threads (ksoftirqd/N, migration/N),
 * whose names end in no space: users' names cannot make the wrong one fit.
 */
function rowOffsetOf(b: Buffer, p: number, h: TableHeader, fallback: number | undefined): number {
  const walks = rowOffsets(h.layout).map((o) => ({ o, t: readTable(b, p, h, o, false, false) }));
  const fit = walks.filter((w) => !w.t.structural);
  if (fit.length === 0) return fallback ?? walks[0]!.o;
  if (fit.length === 1 || fit[0]!.t.trailing === fit[1]!.t.trailing) return fallback ?? fit[0]!.o;
  return fit[0]!.t.trailing < fit[1]!.t.trailing ? fit[0]!.o : fit[1]!.o;
}

const CPU_LINE = /^cpu#(\d+)(?:,.*)?$/;
const VALUE_LINE = /^\s+\.([\w>.-]+)\s*:\s*(-?\d+)/;

type Block = "cpu" | "cfs" | "rt" | "dl" | "other";

export interface ParseOptions {
  /** Only these CPUs' task rows are decoded (the other sections' rows are walked over). */
  cpus?: ReadonlySet<number>;
  /** Only rows that can be waiting or running: R and >R where states are shown. */
  runnableOnly?: boolean;
  /** The name column's offset a previous read found: tried first. */
  rowOffset?: number;
}

/**
 * Parses the file, as text or as the bytes read; throws SchedDebugFormatError
 * when it is not one. A section that does not read exactly is marked
 * malformed (with the reason in `problems`), never half-read.
 */
export function parseSchedDebug(input: string | Uint8Array, opts: ParseOptions = {}): SchedDebug {
  const b =
    typeof input === "string"
      ? Buffer.from(input, "utf8")
      : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const version =
    /^Sched Debug Version: (.*)$/m
      .exec(b.toString("latin1", 0, Math.min(200, b.length)))?.[1]
      ?.trim()
      ?.replace(/[^\x20-\x7e]/g, "?") ?? null;
  const cpus = new Map<number, SchedDebugCpu>();
  const problems: string[] = [];
  let layout: TaskTableLayout | null = null;
  let rowOffset = opts.rowOffset;
  let cur: SchedDebugCpu | null = null;
  let block: Block = "other";
  let rtSeen = false; // several rt_rq blocks with RT_GROUP_SCHED: the root one counts
  let seenValues = new Set<string>();
  let tables = 0;
  /** 0: not in a table, 1: header next, 2: dashes next. */
  let table = 0;
  let header: TableHeader | null = null;
  const spoil = (c: SchedDebugCpu, why: string) => {
    c.malformed ??= why;
  };

  // A read that stopped mid-line leaves a partial line: a line counts only with its newline.
  for (let pos = 0, end = b.indexOf(NL, 0); end >= 0; pos = end + 1, end = b.indexOf(NL, pos)) {
    const line = b.toString("latin1", pos, end);
    if (table === 1) {
      if (line.trim() === "") continue;
      header = parseTableHeader(line);
      if (layout && layout !== header.layout)
        throw new SchedDebugFormatError(`cpu ${cur!.cpu}: task table layout changes mid-file`);
      layout = header.layout;
      table = 2;
      continue;
    }
    if (table === 2) {
      if (!/^-+\s*$/.test(line)) throw new SchedDebugFormatError(`cpu ${cur!.cpu}: no dashed line under the header`);
      table = 0;
      const rowsAt = end + 1;
      const wanted = !opts.cpus || opts.cpus.has(cur!.cpu);
      const read = (o: number) => readTable(b, rowsAt, header!, o, wanted, opts.runnableOnly ?? false);
      // The offset that fitted the previous table (or the previous read) is tried first.
      rowOffset ??= rowOffsetOf(b, rowsAt, header!, undefined);
      let t = read(rowOffset);
      if (t.structural) {
        const other = rowOffsetOf(b, rowsAt, header!, rowOffset);
        if (other !== rowOffset) {
          rowOffset = other;
          t = read(rowOffset);
        }
      }
      cur!.tasks = t.tasks;
      if (t.malformed) spoil(cur!, t.malformed);
      if (t.next < 0) break; // cut short: the section stays incomplete
      cur!.complete = true;
      block = "other";
      end = t.next - 1;
      continue;
    }
    const cpuHead = CPU_LINE.exec(line);
    if (cpuHead) {
      const n = Number(cpuHead[1]);
      const again = cpus.get(n);
      cur = {
        cpu: n,
        currPid: null,
        nrRunning: null,
        rtNrRunning: null,
        dlNrRunning: null,
        tasks: [],
        complete: false,
        malformed: null,
      };
      if (again) {
        spoil(again, `cpu#${n} appears twice`);
        spoil(cur, `cpu#${n} appears twice`);
      }
      cpus.set(n, again ?? cur);
      if (again) cur = again;
      block = "cpu";
      rtSeen = false;
      seenValues = new Set();
      tables = 0;
      continue;
    }
    if (!cur) continue;
    if (/^runnable tasks:\s*$/.test(line)) {
      if (++tables > 1) spoil(cur, "two task tables");
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
    const key = `${block}:${v[1]}`;
    const wanted = ["cpu:curr->pid", "cpu:nr_running", "rt:rt_nr_running", "dl:dl_nr_running"].includes(key);
    if (!wanted) continue;
    if (seenValues.has(key)) spoil(cur, `${v[1]} twice`);
    seenValues.add(key);
    const n = Number(v[2]);
    if (key === "cpu:curr->pid") cur.currPid = n;
    else if (key === "cpu:nr_running") cur.nrRunning = n;
    else if (key === "rt:rt_nr_running") cur.rtNrRunning = n;
    else cur.dlNrRunning = n;
  }
  if (!cpus.size) throw new SchedDebugFormatError("no per-CPU section (cpu#N): not the scheduler's debug file");
  if (!layout) throw new SchedDebugFormatError("no task table (runnable tasks:) in any CPU section");
  for (const c of cpus.values()) if (c.malformed) problems.push(`cpu ${c.cpu}: ${c.malformed}`);
  return { version, layout, cpus, problems, rowOffset: rowOffset ?? rowOffsets(layout)[0]! };
}
