// Which sinks the command line asks for: the console (stdout with -v, stderr
// otherwise, with journald priority prefixes when stderr is the journal),
// the kernel log (-k) and syslog (-s).
import { journalStream } from "../systemd/notify";
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
    const fd = cfg.verbose ? 1 : 2;
    const journal = journalStream(process.env, fd);
    sinks.push(consoleSink(fd, journal, cfg.logFormat));
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
