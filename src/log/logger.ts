// The project logger: consola with one reporter that writes one line per
// message to stderr, synchronously, so nothing is lost on an exit path.
import { writeSync } from "node:fs";
import { format } from "node:util";
import { createConsola, LogLevels, type ConsolaReporter, type LogObject } from "consola";

const TAGS: Record<string, string> = {
  fatal: "error", error: "error", warn: "warn", log: "info", info: "info",
  success: "info", ready: "info", start: "info", box: "info", debug: "debug", trace: "trace",
};

export function formatLine(obj: Pick<LogObject, "date" | "type" | "args">): string {
  const msg = format(...obj.args).replace(/\n/g, " | ");
  return `${obj.date.toISOString()} ${TAGS[obj.type] ?? obj.type}: ${msg}\n`;
}

const lineReporter: ConsolaReporter = {
  log(obj) {
    try {
      writeSync(2, formatLine(obj));
    } catch {
      // stderr gone: nothing better to do than carry on.
    }
  },
};

export const log = createConsola({ level: LogLevels.info, reporters: [lineReporter] });
export type Logger = typeof log;

export function setVerbosity(verbose: number): void {
  log.level = verbose >= 2 ? LogLevels.trace : verbose === 1 ? LogLevels.debug : LogLevels.info;
}
