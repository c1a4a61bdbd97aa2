// Which sinks the command line asks for: the console (stderr, with journald
// priority prefixes when stderr is the journal),
// the kernel log (-k) and syslog (-s).
import { fstatSync } from "node:fs";
import { consoleSink, kmsgSink, type LogSink, log, syslogSink } from "./logger";

export interface SinkChoice {
  verbose: boolean;
  logKmsg: boolean;
  logSyslog: boolean;
  /** json: the console gets one JSON object per line; the kernel log and syslog stay text. */
  logFormat?: "text" | "json";
}

export function buildSinks(cfg: SinkChoice, opts: { console: boolean }): LogSink[] {
  const sinks: LogSink[] = [];
  if (opts.console) {
    // stderr, with -v too: the original's verbose output goes there, and scripts read it there.
    const fd = 2;
    const journald = journalStream(process.env, fd);
    sinks.push(consoleSink(fd, journald, cfg.logFormat));
  }
  if (cfg.logKmsg) {
    try {
      sinks.push(kmsgSink());
    } catch (e) {
      log.warn(`-k/--log-kmsg: cannot open /dev/kmsg (${(e as Error).message}); not logging to the kernel log`);
    }
  }
  if (cfg.logSyslog) sinks.push(syslogSink());
  return sinks;
}

/**
 * Whether fd is the journal stream systemd connected ($JOURNAL_STREAM =
 * "dev:ino"), so `<N>` prefixes carry priorities.
 */
export function journalStream(env: Record<string, string | undefined> = process.env, fd = 2): boolean {
  const js = env.JOURNAL_STREAM;
  if (!js) return false;
  const [dev, ino] = js.split(":");
  try {
    const st = fstatSync(fd, { bigint: true });
    return dev !== undefined && ino !== undefined && st.dev === BigInt(dev) && st.ino === BigInt(ino);
  } catch {
    return false;
  }
}
