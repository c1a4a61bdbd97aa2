import { describe, expect, test } from "bun:test";
import { parseArgs } from "citty";
import { runArgs } from "../../src/cli/args";
import { parseRunConfig, rejectUnknown } from "../../src/cli/options";
import { DEFAULTS } from "../../src/config";
import { UsageError } from "../../src/errors";

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
      cpus: ONLINE,
      thresholdS: 20,
      granularityS: 5,
      boostPeriodNs: 1_000_000_000n,
      boostRuntimeNs: 20_000n,
      boostDurationS: 3,
      logOnly: false,
      verbose: false,
      logKmsg: false,
      logSyslog: false,
      foreground: false,
      pidfile: null,
      mode: "power",
      idleDetect: true,
      forceFifo: false,
      systemd: false,
      reservationPct: null,
      ignoreThreads: [],
      ignoreProcesses: [],
      affinity: null,
      backend: null,
      btfPath: null,
      boostAll: false,
      stateDir: "/run/stalld",
      logFormat: "text",
      metricsFile: null,
      metricsListen: null,
    });
    expect(DEFAULTS.thresholdS).toBe(20);
  });

  test("short flags, kebab-case and the original's underscore names", () => {
    const a = config([
      "-t",
      "30",
      "-c",
      "2-3",
      "-p",
      "500000000",
      "-r",
      "30000",
      "-d",
      "4",
      "-g",
      "2",
      "-l",
      "-v",
      "-b",
      "Q",
    ]);
    expect(a).toMatchObject({
      thresholdS: 30,
      cpus: [2, 3],
      boostPeriodNs: 500_000_000n,
      boostRuntimeNs: 30_000n,
      boostDurationS: 4,
      granularityS: 2,
      logOnly: true,
      verbose: true,
      backend: "queue_track",
    });
    expect(config(["--starving-threshold", "40", "--boost-duration=5"])).toMatchObject({
      thresholdS: 40,
      boostDurationS: 5,
    });
    expect(config(["--starving_threshold", "41", "--log_only", "--boost_runtime", "9000"])).toMatchObject({
      thresholdS: 41,
      logOnly: true,
      boostRuntimeNs: 9000n,
    });
    expect(config(["--cpu=1", "--backend", "queue_track"])).toMatchObject({ cpus: [1], backend: "queue_track" });
    expect(config(["-b", "task_scan"])).toMatchObject({ backend: "task_scan" });
    expect(config(["-b", "T"])).toMatchObject({ backend: "task_scan" });
    expect(config(["--btf", "/sys/kernel/btf/vmlinux"])).toMatchObject({ btfPath: "/sys/kernel/btf/vmlinux" });
    expect(config(["--metrics-listen", "9101"]).metricsListen).toEqual({
      hostname: "127.0.0.1",
      port: 9101,
      loopback: true,
    });
    expect(config(["--metrics-listen", "[::1]:9101"]).metricsListen).toEqual({
      hostname: "::1",
      port: 9101,
      loopback: true,
    });
    expect(config(["--metrics-listen", "0.0.0.0:9101"]).metricsListen).toEqual({
      hostname: "0.0.0.0",
      port: 9101,
      loopback: false,
    });
    expect(config(["--metrics-file", "/tmp/stalld.prom"]).metricsFile).toBe("/tmp/stalld.prom");
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
    [
      ["-p", "2000000000", "-d", "1"],
      /-p\/--boost-period \(2000000000 ns\) must not exceed -d\/--boost-duration \(1 s\)/,
    ],
    [["-d", "30", "-t", "20"], /-d\/--boost-duration \(30 s\) must not exceed -t\/--starving-threshold \(20 s\)/],
    [["--log-format", "xml"], /--log-format: "xml" is not a format \(text or json\)/],
    [["--metrics-file", "/nonexistent/dir/stalld.prom"], /--metrics-file: \/nonexistent\/dir is not a directory/],
    [["--metrics-file", "/tmp"], /--metrics-file: \/tmp is a directory/],
    [["--metrics-listen", "localhost"], /--metrics-listen: "localhost" is not HOST:PORT/],
    [["--metrics-listen", "127.0.0.1:70000"], /--metrics-listen: port 70000 is out of range \(1-65535\)/],
    [["--btf", "/nonexistent/vmlinux"], /--btf: \/nonexistent\/vmlinux is not a readable file/],
    [["--btf", "/tmp"], /--btf: \/tmp is not a readable file/],
    [["--btf", "/sys/kernel/btf/vmlinux", "-b", "S"], /--btf is for the BPF backends; -b sched_debug uses none/],
    [
      ["-b", "nope"],
      /-b\/--backend: unknown backend "nope" \(available: task_scan or T, queue_track or Q, sched_debug or S\)/,
    ],
    [["-R", "9"], /-R\/--reservation: 9 % is out of range \(allowed 10-90 %\)/],
    [["-R", "91"], /allowed 10-90 %/],
    [["-R", "ten"], /-R\/--reservation: "ten" is not a whole number of %/],
    [["-R", "50", "-A"], /-R\/--reservation works only in single-threaded \(power\) mode, not with --aggressive-mode/],
    [["-R", "50", "-M"], /not with --adaptive-mode/],
    [["-A", "-M"], /choose one of -A\/--aggressive-mode, -M\/--adaptive-mode, -O\/--power-mode/],
    [["-O", "-A"], /choose one of/],
    [["-a", "7"], /-a\/--affinity: invalid cpu list "7": cpu 7 does not exist/],
    [["-a", "0-"], /-a\/--affinity: invalid cpu list/],
    [["-i", "kworker,(bad"], /-i\/--ignore-threads: "\(bad" is not a valid regex/],
    [["-I", "a,,b"], /-I\/--ignore-processes: empty pattern in "a,,b"/],
    [["-i"], /--ignore-threads needs a value/],
    [["-P"], /--pidfile needs a value/],
    [["-c", "4"], /-c\/--cpu: invalid cpu list "4": cpu 4 does not exist/],
    [["-c", "1-x"], /-c\/--cpu: invalid cpu list/],
    [["--frobnicate"], /unknown option --frobnicate/],
    [["-x"], /unknown option -x/],
    [["stray"], /unexpected argument "stray"/],
  ])("%p", (argv, message) => {
    if (message === null) expect(() => config(argv)).not.toThrow();
    else rejects(argv, message);
  });

  test("every other flag of the original, by short, underscore and kebab-case name", () => {
    const short = config([
      "-k",
      "-s",
      "-f",
      "-N",
      "-F",
      "-S",
      "-P",
      "/run/x.pid",
      "-R",
      "20",
      "-i",
      "ksoftirqd,rcu_",
      "-I",
      "dpdk",
      "-a",
      "0",
      "-O",
    ]);
    expect(short).toMatchObject({
      logKmsg: true,
      logSyslog: true,
      foreground: true,
      idleDetect: false,
      forceFifo: true,
      systemd: true,
      pidfile: "/run/x.pid",
      reservationPct: 20,
      affinity: [0],
      mode: "power",
    });
    expect(short.ignoreThreads.map(String)).toEqual(["ksoftirqd", "rcu_"]);
    expect(short.ignoreProcesses.map(String)).toEqual(["dpdk"]);
    const underscore = config([
      "--log_kmsg",
      "--log_syslog",
      "--no_idle_detect",
      "--force_fifo",
      "--ignore_threads",
      "a",
      "--ignore_processes",
      "b",
      "--adaptive_mode",
    ]);
    expect(underscore).toMatchObject({
      logKmsg: true,
      logSyslog: true,
      idleDetect: false,
      forceFifo: true,
      mode: "adaptive",
    });
    const kebab = config(
      ["--log-kmsg", "--aggressive-mode", "--pidfile=/tmp/p", "--reservation", "90", "--systemd"].filter(
        (a) => a !== "--reservation" && a !== "90",
      ),
    );
    expect(kebab).toMatchObject({ logKmsg: true, mode: "aggressive", pidfile: "/tmp/p", systemd: true });
    expect(config(["--power_mode", "--reservation=90"])).toMatchObject({ mode: "power", reservationPct: 90 });
    expect(config(["-b", "S"]).backend).toBe("sched_debug");
    expect(config(["--backend", "sched_debug"]).backend).toBe("sched_debug");
  });

  test("-v implies the foreground; aggressive mode turns idle detection off; a relative pidfile is made absolute", () => {
    expect(config(["-v"])).toMatchObject({ verbose: true, foreground: true });
    expect(config(["-A"])).toMatchObject({ mode: "aggressive", idleDetect: false });
    expect(config(["-P", "stalld.pid"]).pidfile).toBe(`${process.cwd()}/stalld.pid`);
  });

  test("a flag repeated by a sysconfig file and the unit (--foreground twice) is accepted", () => {
    expect(config(["--foreground", "-f", "--systemd", "-S"])).toMatchObject({ foreground: true, systemd: true });
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

describe("-i/-I patterns", () => {
  test("'.' matches a newline (a name can hold one); a pathological pattern costs time linear in the name", () => {
    const [p] = config(["-i", "^ksoft.*d$"]).ignoreThreads;
    expect(p!.test("ksoftirqd/1")).toBe(false);
    expect(p!.test("ksoft\nirqd")).toBe(true);
    const [evil] = config(["-I", "(a+)+$"]).ignoreProcesses;
    const t0 = performance.now();
    expect(evil!.test(`${"a".repeat(100_000)}!`)).toBe(false);
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});
