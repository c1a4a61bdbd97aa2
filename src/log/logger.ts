// The project logger: consola with one reporter that fans each message out to
// the chosen sinks (console, /dev/kmsg, syslog), synchronously, so nothing is
// lost on an exit path. Repeated warnings and errors are rate-limited.
import { closeSync, constants as fsc, openSync, writeSync } from "node:fs";
import { format } from "node:util";
import { type ConsolaReporter, createConsola, LogLevels, type LogObject } from "consola";
import { sendDatagram } from "../ffi/unix_socket";
import { escapeControls, jsonSafe } from "./escape";
import { NonBlockingFd } from "./nonblocking";
import { RateLimiter, similarityKey } from "./rate_limit";

export type Severity = "error" | "warn" | "info" | "debug";

const SEVERITY: Record<string, Severity> = {
  fatal: "error",
  error: "error",
  warn: "warn",
  log: "info",
  info: "info",
  success: "info",
  ready: "info",
  start: "info",
  box: "info",
  debug: "debug",
  trace: "debug",
};

/** syslog(3) priorities; journald reads them as `<N>` prefixes too. */
export const PRIORITY: Record<Severity, number> = { error: 3, warn: 4, info: 6, debug: 7 };
const LOG_DAEMON = 3 << 3;

/** Structured fields of an event (`log.info({ message, event: "boosted", pid, ... })`): JSON sinks write them. */
export type Fields = Record<string, string | number | boolean | null>;

export interface LogSink {
  readonly name: string;
  /** Bytes written so far (console sinks): a detaching parent copies exactly that much. */
  readonly written?: number;
  write(severity: Severity, message: string, date: Date, fields: Fields): void;
  close?(): void;
}

/** consola's own keys on a log object; the rest are the event's fields. */
const CONSOLA_KEYS = new Set(["date", "args", "type", "level", "tag"]);

function fieldsOf(obj: LogObject): Fields {
  const out: Fields = {};
  for (const [k, v] of Object.entries(obj)) if (!CONSOLA_KEYS.has(k) && v !== undefined) out[k] = v as Fields[string];
  return out;
}

/** Fields every JSON line carries (the backend, once chosen). */
const context: Fields = {};

export function setLogContext(fields: Fields): void {
  Object.assign(context, fields);
}

/** One JSON object per line: time, level, event ("log" for plain lines), message, the event's fields, the context. */
export function jsonLine(sev: Severity, message: string, date: Date, fields: Fields): string {
  return jsonSafe(
    JSON.stringify({
      time: date.toISOString(),
      level: sev,
      event: fields.event ?? "log",
      message,
      ...fields,
      ...context,
    }),
  );
}

/** The message of a log call, printable: controls (a task's name can hold any) become escapes. */
function messageOf(obj: Pick<LogObject, "args">): string {
  return escapeControls(format(...obj.args));
}

function safeWrite(fd: number, text: string): number {
  try {
    return writeSync(fd, text);
  } catch {
    // the destination is gone (or full: /dev/kmsg is non-blocking): carry on.
    return 0;
  }
}

/**
 * A sink's write over a writer that may refuse a line (never blocking): the
 * refused lines are counted, and the next line that goes through is preceded
 * by one saying how many (a refused note is not counted again).
 */
function reportingDrops(
  tryWrite: (sev: Severity, msg: string, date: Date, fields: Fields) => boolean,
  note: (n: number) => string,
): LogSink["write"] {
  let dropped = 0;
  return (sev, msg, date, fields) => {
    if (dropped && tryWrite("warn", note(dropped), date, { event: "log_dropped", count: dropped })) dropped = 0;
    if (!tryWrite(sev, msg, date, fields)) dropped++;
  };
}

/**
 * stderr or stdout, as text or one JSON object per line (--log-format json).
 * Under journald a `<N>` prefix carries the priority and journald adds the time.
 */
export function consoleSink(fd: number, journald: boolean, format: "text" | "json" = "text"): LogSink {
  let written = 0;
  const out = new NonBlockingFd(fd);
  const name = fd === 1 ? "stdout" : "stderr";
  const text = (sev: Severity, msg: string, date: Date) => (journald ? msg : `${date.toISOString()} ${sev}: ${msg}`);
  const line = (sev: Severity, msg: string, date: Date, fields: Fields) =>
    `${journald ? `<${PRIORITY[sev]}>` : ""}` +
    `${format === "json" ? jsonLine(sev, msg, date, fields) : text(sev, msg, date)}\n`;
  return {
    name,
    get written() {
      return written;
    },
    write: reportingDrops(
      (sev, msg, date, fields) => {
        const n = out.write(line(sev, msg, date, fields));
        written += n;
        return n > 0;
      },
      (n) => `${n} log line(s) dropped: ${name} was not being read`,
    ),
  };
}

/** The kernel log; one record per line, prefixed as the kernel expects. Opening it can fail: the caller reports. */
export function kmsgSink(path = "/dev/kmsg"): LogSink {
  const fd = openSync(path, fsc.O_WRONLY | fsc.O_NONBLOCK);
  return {
    name: "kmsg",
    // The kernel cuts records at ~1 KiB.
    write: (sev, msg) =>
      void safeWrite(fd, `<${LOG_DAEMON | PRIORITY[sev]}>stalld[${process.pid}]: ${msg.slice(0, 900)}\n`),
    close: () => closeSync(fd),
  };
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** What syslog(3) sends: `<PRI>Mmm dd hh:mm:ss ident[pid]: message`, local time. */
export function syslogDatagram(priority: number, date: Date, ident: string, pid: number, msg: string): string {
  const two = (n: number) => String(n).padStart(2, "0");
  const day = `${MONTHS[date.getMonth()]} ${String(date.getDate()).padStart(2, " ")}`;
  const stamp = `${day} ${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
  return `<${priority}>${stamp} ${ident}[${pid}]: ${msg}`;
}

/**
 * The syslog socket, daemon facility, tagged stalld[pid]: the datagrams
 * syslog(3) sends, but never blocking (libc's syslog() waits as long as
 * /dev/log is full, SIGTERM included). A datagram that can't go now (full, no
 * syslog daemon yet) is dropped and counted.
 */
export function syslogSink(path = "/dev/log"): LogSink {
  return {
    name: "syslog",
    write: reportingDrops(
      (sev, msg, date) => {
        try {
          sendDatagram(path, syslogDatagram(LOG_DAEMON | PRIORITY[sev], date, "stalld", process.pid, msg));
          return true;
        } catch {
          return false;
        }
      },
      (n) => `${n} syslog message(s) dropped: ${path} was full or absent`,
    ),
  };
}

let sinks: LogSink[] = [consoleSink(2, false)];
const limiter = new RateLimiter();

/** Lines per minute per key: warnings and errors; information (boosts, detections) gets more. */
const BURST = { warn: 5, error: 5, info: 120 } as const;

/** What a line is counted under (rate_limit.ts): its event and CPU, else its text without numbers. */
function rateKey(sev: Severity, msg: string, fields: Fields): string {
  return fields.event !== undefined ? `${sev}:${fields.event}:${fields.cpu ?? ""}` : `${sev}:${similarityKey(msg)}`;
}

const fanOut: ConsolaReporter = {
  log(obj) {
    const sev = SEVERITY[obj.type] ?? "info";
    let msg = messageOf(obj);
    const fields = fieldsOf(obj);
    // Debug lines are asked for (-v) and never limited.
    if (sev !== "debug") {
      const a = limiter.admit(msg, rateKey(sev, msg, fields), BURST[sev]);
      if (!a.emit) return;
      if (a.suppressedBefore) msg += ` (${a.suppressedBefore} similar message(s) suppressed in the previous minute)`;
    }
    for (const s of sinks) s.write(sev, msg, obj.date, fields);
  },
};

/** A line of text, or an event whose fields JSON sinks write (`{ message, event: "boosted", pid, ... }`). */
export type LogEntry = string | ({ message: string } & Fields);

/** What every part of stalld logs through; consola behind it (`log`), a recorder in tests. */
export interface Logger {
  error(entry: LogEntry): void;
  warn(entry: LogEntry): void;
  info(entry: LogEntry): void;
  debug(entry: LogEntry): void;
  trace(entry: LogEntry): void;
}

const engine = createConsola({ level: LogLevels.info, reporters: [fanOut] });

export const log: Logger = engine;

/** Logs nothing: for commands that print their own output (doctor, top) while a backend loads. */
export const silentLog: Logger = { error() {}, warn() {}, info() {}, debug() {}, trace() {} };

export function setVerbosity(verbose: number): void {
  engine.level = verbose >= 2 ? LogLevels.trace : verbose === 1 ? LogLevels.debug : LogLevels.info;
}

/** Replaces the sinks; closes the ones no longer used. */
export function setSinks(next: LogSink[]): void {
  for (const s of sinks) if (!next.includes(s)) s.close?.();
  sinks = next;
}

export function currentSinks(): readonly LogSink[] {
  return sinks;
}

/** At exit: one line for whatever the rate limiter still holds back. */
export function flushSuppressed(): void {
  for (const { sample, suppressed } of limiter.drain()) {
    for (const s of sinks)
      s.write("info", `${suppressed} more message(s) like this were suppressed: ${sample}`, new Date(), {
        event: "suppressed",
      });
  }
}
