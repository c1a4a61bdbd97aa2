// `stalld throttle off|on|status`: RT throttling for a unit that runs the
// daemon with --systemd. systemd runs `on` from ExecStopPost, so throttling
// comes back even when the daemon was killed with SIGKILL.

import { closeSync, constants as fsc, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { defineCommand } from "citty";
import { RtThrottling } from "../boost/rt_throttling";
import { requireRoot, UsageError } from "../errors";
import { type Logger, log } from "../log/logger";

/** Where `off` keeps the value `on` puts back (root-only /run, gone at reboot like the setting). */
export const SAVED_PATH = "/run/stalld.sched_rt_runtime_us";
/** The kernel's default, for `on` without a saved value. */
const KERNEL_DEFAULT = 950000;

function savedValue(path: string): number | null {
  try {
    const v = Number(readFileSync(path, "utf8").trim());
    return Number.isInteger(v) && v >= -1 ? v : null;
  } catch {
    return null;
  }
}

export function throttle(
  action: string,
  paths = { saved: SAVED_PATH, runtime: undefined as string | undefined },
  logger: Logger = log,
): void {
  const log = logger;
  const rt = new RtThrottling(log, paths.runtime);
  const now = rt.read();
  switch (action) {
    case "status":
      console.log(
        now === -1
          ? "RT throttling is off (sched_rt_runtime_us = -1)"
          : `RT throttling is on (sched_rt_runtime_us = ${now})`,
      );
      return;
    case "off": {
      // What was found is what `on` puts back, -1 included. An earlier `off`
      // without `on` already saved the real value: keep it.
      if (savedValue(paths.saved) === null) {
        const fd = openSync(
          paths.saved,
          fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC | fsc.O_NOFOLLOW | fsc.O_NONBLOCK,
          0o600,
        );
        try {
          writeSync(fd, `${now}\n`);
        } finally {
          closeSync(fd);
        }
      }
      if (now === -1) {
        log.info(`RT throttling already disabled, doing nothing (saved in ${paths.saved}: -1 stays at on)`);
        return;
      }
      rt.write(-1);
      log.info(`RT Throttling disabled (sched_rt_runtime_us was ${now}, saved in ${paths.saved})`);
      return;
    }
    case "on": {
      const value = savedValue(paths.saved) ?? KERNEL_DEFAULT;
      if (now !== value) {
        rt.write(value);
        log.info(`RT Throttling runtime restored to ${value}`);
      } else log.info(`RT throttling already at ${value}, doing nothing`);
      try {
        unlinkSync(paths.saved);
      } catch {
        // nothing was saved
      }
      return;
    }
    default:
      throw new UsageError(`throttle: unknown action "${action}" (off, on or status)`);
  }
}

export default defineCommand({
  meta: {
    name: "throttle",
    description: "Turn RT throttling off or back on, for units that run stalld with --systemd",
  },
  args: {
    action: {
      type: "positional",
      required: true,
      valueHint: "off|on|status",
      description: "off: save and disable; on: restore the saved value (or 950000); status",
    },
  },
  run: ({ args }) => {
    if (args.action !== "status") requireRoot("stalld throttle");
    throttle(String(args.action));
  },
});
