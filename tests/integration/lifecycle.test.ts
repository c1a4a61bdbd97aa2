// The real daemon leaves the machine as it found it: debugfs mounted or not,
// HRTICK_DL, RT throttling, for every backend x (debugfs mounted at start or
// not) x (log-only or not). Before the lifecycle, the sched_debug backend
// unmounted debugfs before the HRTICK_DL restore wrote through it.
import { afterAll, describe, expect, test } from "bun:test";
import { BACKEND_NAMES } from "../../src/backends/registry";
import { ensureMounted, isMounted, unmount } from "../../src/kernel/mounts";
import { readFeature } from "../../src/kernel/sched_features";
import { guardRtFile } from "../helpers/guard";
import { rtRuntime, startDaemon, withRtLock } from "../helpers/rt";

guardRtFile();

const debugfsAtStart = isMounted("debugfs");
afterAll(() => {
  // Put the mount back as this file found it.
  if (isMounted("debugfs") && !debugfsAtStart) unmount("debugfs");
  if (!isMounted("debugfs") && debugfsAtStart) ensureMounted("debugfs");
});

/** HRTICK_DL as sched/debug says, with debugfs mounted for the one read if it is not. */
function hrtickDl(): string {
  const mountedHere = ensureMounted("debugfs");
  try {
    return readFeature("HRTICK_DL").state;
  } finally {
    if (mountedHere) unmount("debugfs");
  }
}

describe("after a stop, the machine is as found", () => {
  for (const backend of BACKEND_NAMES)
    for (const mounted of [false, true])
      for (const logOnly of [false, true])
        test(`-b ${backend}, debugfs ${mounted ? "mounted" : "not mounted"} at start${logOnly ? ", -l" : ""}`, async () => {
          await withRtLock(async () => {
            if (mounted) ensureMounted("debugfs");
            else if (isMounted("debugfs")) unmount("debugfs");
            const hrtick = hrtickDl();
            const rt = rtRuntime();
            const d = startDaemon(["run", "-c", "1", "-t", "5", "-b", backend, ...(logOnly ? ["-l"] : [])]);
            try {
              await d.waitFor(/monitoring CPUs 1 with backend/, 15_000);
              if (!logOnly) expect(rtRuntime()).toBe(-1);
              // Where debugfs was missing, run mounts it (not log-only: DL-server and HRTICK state;
              // sched_debug: its file) and says so.
              const mounts = !mounted && (!logOnly || backend === "sched_debug");
              expect(isMounted("debugfs")).toBe(mounted || mounts);
            } finally {
              expect(await d.stop()).toBe(0);
            }
            expect(isMounted("debugfs")).toBe(mounted);
            expect(rtRuntime()).toBe(rt);
            expect(hrtickDl()).toBe(hrtick);
            if (!mounted && (!logOnly || backend === "sched_debug")) {
              // The unmount is the last change undone: after RT throttling and HRTICK_DL.
              const at = (re: RegExp) => d.lines.findIndex((l) => re.test(l));
              expect(at(/unmounted debugfs/)).toBeGreaterThan(at(/stopping \(signal SIGTERM\)/));
              if (!logOnly) expect(at(/unmounted debugfs/)).toBeGreaterThan(at(/RT Throttling runtime restored/));
            }
          });
        });
});
