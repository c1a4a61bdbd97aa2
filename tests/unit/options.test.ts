import { describe, expect, test } from "bun:test";
import { parseArgs } from "citty";
import { runArgs } from "../../src/cli/args";
import { DEFAULTS, parseRunConfig, rejectUnknown, UsageError } from "../../src/cli/options";

const ONLINE = [0, 1, 2, 3];
function config(argv: string[]) {
  const args = parseArgs(argv, runArgs) as Record<string, unknown>;
  rejectUnknown(args, runArgs);
  return parseRunConfig(args, ONLINE, 4);
}
function rejects(argv: string[], message: RegExp) {
  expect(() => config(argv)).toThrow(UsageError);
  expect(() => config(argv)).toThrow(message);
}

describe("run options", () => {
  test("defaults: the original's code (threshold 20 s), all online CPUs, automatic backend", () => {
    expect(config([])).toEqual({
      cpus: ONLINE, thresholdS: 20, granularityS: 5, boostPeriodNs: 1_000_000_000n, boostRuntimeNs: 20_000n,
      boostDurationS: 3, logOnly: false, verbose: false, backend: null,
    });
    expect(DEFAULTS.thresholdS).toBe(20);
  });

  test("short flags, kebab-case and the original's underscore names", () => {
    const a = config(["-t", "30", "-c", "2-3", "-p", "500000000", "-r", "30000", "-d", "4", "-g", "2", "-l", "-v", "-b", "Q"]);
    expect(a).toMatchObject({ thresholdS: 30, cpus: [2, 3], boostPeriodNs: 500_000_000n, boostRuntimeNs: 30_000n, boostDurationS: 4, granularityS: 2, logOnly: true, verbose: true, backend: "queue_track" });
    expect(config(["--starving-threshold", "40", "--boost-duration=5"])).toMatchObject({ thresholdS: 40, boostDurationS: 5 });
    expect(config(["--starving_threshold", "41", "--log_only", "--boost_runtime", "9000"])).toMatchObject({ thresholdS: 41, logOnly: true, boostRuntimeNs: 9000n });
    expect(config(["--cpu=1", "--backend", "queue_track"])).toMatchObject({ cpus: [1], backend: "queue_track" });
    expect(config(["-b", "task_scan"])).toMatchObject({ backend: "task_scan" });
    expect(config(["-b", "T"])).toMatchObject({ backend: "task_scan" });
  });

  test.each([
    [["-t", "0"], /-t\/--starving-threshold: 0 s is out of range \(allowed 1-3600 s\)/],
    [["-t", "3601"], /allowed 1-3600 s/],
    [["-t", "20s"], /"20s" is not a whole number of s/],
    [["-t", "-5"], /not a whole number/],
    [["-t"], /--starving-threshold needs a value/],
    [["-g", "0"], /-g\/--granularity: 0 s is out of range \(allowed 1-600 s\)/],
    [["-g", "601"], /allowed 1-600 s/],
    [["-d", "0"], /-d\/--boost-duration: 0 s is out of range \(allowed 1-60 s\)/],
    [["-d", "61", "-t", "100"], /allowed 1-60 s/],
    [["-p", "199999999"], /-p\/--boost-period: 199999999 ns is out of range \(allowed 200000000-4000000000 ns\)/],
    [["-p", "4000000001", "-d", "5"], /allowed 200000000-4000000000 ns/],
    [["-r", "7999"], /-r\/--boost-runtime: 7999 ns is out of range \(allowed 8000-1000000 ns\)/],
    [["-r", "1000001"], /allowed 8000-1000000 ns/],
    [["-r", "1000000", "-p", "200000000", "-d", "1", "-t", "1"], null],
    [["-p", "2000000000", "-d", "1"], /-p\/--boost-period \(2000000000 ns\) must not exceed -d\/--boost-duration \(1 s\)/],
    [["-d", "30", "-t", "20"], /-d\/--boost-duration \(30 s\) must not exceed -t\/--starving-threshold \(20 s\)/],
    [["-b", "sched_debug"], /-b\/--backend: unknown backend "sched_debug"/],
    [["-c", "4"], /-c\/--cpu: invalid cpu list "4": cpu 4 does not exist/],
    [["-c", "1-x"], /-c\/--cpu: invalid cpu list/],
    [["--frobnicate"], /unknown option --frobnicate/],
    [["-x"], /unknown option -x/],
    [["stray"], /unexpected argument "stray"/],
  ])("%p", (argv, message) => {
    if (message === null) expect(() => config(argv)).not.toThrow();
    else rejects(argv, message);
  });

  test("an offline CPU is refused", () => {
    const args = parseArgs(["-c", "3"], runArgs) as Record<string, unknown>;
    expect(() => parseRunConfig(args, [0, 1, 2], 4)).toThrow(/-c\/--cpu: cpu 3 is offline/);
  });

  test("every message is one line", () => {
    for (const argv of [["-t", "0"], ["-c", "9"], ["--nope"], ["-d", "9"]]) {
      try {
        config(argv);
        throw new Error("accepted");
      } catch (e) {
        expect((e as Error).message).not.toContain("\n");
      }
    }
  });
});
