// Every signal whose default action ends a process: the daemon either stops
// cleanly (RT throttling and mounts put back, exit 0) or ignores it and goes
// on. Before, SIGUSR1, SIGALRM, SIGIO, SIGXCPU, SIGSTKFLT or a real-time
// signal killed it with RT throttling left off.
import { describe, expect, test } from "bun:test";
import { isMounted } from "../../src/kernel/mounts";
import { guardRtFile } from "../helpers/guard";
import { rtRuntime, startDaemon, withRtLock } from "../helpers/rt";

guardRtFile();

const STOPS = ["SIGUSR1", "SIGUSR2", "SIGALRM", "SIGVTALRM", "SIGPROF", "SIGIO", "SIGXCPU", "SIGHUP", "SIGQUIT"];
const IGNORED = [16, 34, 40, 50, 64];

describe("signals", () => {
  test.each(STOPS)("%s stops the daemon cleanly: exit 0, throttling and debugfs as found", async (sig) => {
    await withRtLock(async () => {
      const rt = rtRuntime();
      const debugfs = isMounted("debugfs");
      const d = startDaemon(["run", "-c", "1", "-t", "5"]);
      await d.waitFor(/monitoring CPUs 1/, 10_000);
      expect(rtRuntime()).toBe(-1);
      process.kill(d.proc.pid, sig as NodeJS.Signals);
      // It stops by itself (d.stop() would add a SIGTERM of its own).
      await d.waitFor(/stopping \(signal /, 5000);
      expect(await Promise.race([d.proc.exited, Bun.sleep(5000).then(() => "still running")])).toBe(0);
      expect(await d.stop()).toBe(0);
      expect(d.lines.filter((l) => l.includes("stopping ("))).toEqual([
        expect.stringContaining(`stopping (signal ${sig})`),
      ]);
      expect(rtRuntime()).toBe(rt);
      expect(isMounted("debugfs")).toBe(debugfs);
    });
  });

  test(`signals ${IGNORED.join(", ")} (SIGSTKFLT, real-time) are ignored: the daemon goes on`, async () => {
    await withRtLock(async () => {
      const d = startDaemon(["run", "-c", "1", "-t", "5"]);
      await d.waitFor(/monitoring CPUs 1/, 10_000);
      for (const sig of IGNORED) process.kill(d.proc.pid, sig);
      await Bun.sleep(500);
      expect(d.proc.exitCode).toBeNull();
      expect(d.proc.signalCode).toBeNull();
      expect(await d.stop()).toBe(0);
    });
  });
});
