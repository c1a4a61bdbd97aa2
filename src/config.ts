// What `stalld run` was asked to do, validated (cli/options.ts makes it): the
// one shape every layer below the CLI reads. Defaults and ranges live here
// too, so help texts, validation and the daemon agree.

/** A -i/-I pattern: matched anywhere in a name, in time linear in the name (re2js). */
export interface NamePattern {
  test(name: string): boolean;
}

/** The original's threading modes, given a meaning in this design (see README). */
export type Mode = "power" | "adaptive" | "aggressive";

export interface RunConfig {
  cpus: number[];
  thresholdS: number;
  granularityS: number;
  boostPeriodNs: bigint;
  boostRuntimeNs: bigint;
  boostDurationS: number;
  logOnly: boolean;
  verbose: boolean;
  logKmsg: boolean;
  logSyslog: boolean;
  /** -f, or implied by -v. */
  foreground: boolean;
  /** Absolute path, or null. */
  pidfile: string | null;
  mode: Mode;
  idleDetect: boolean;
  forceFifo: boolean;
  systemd: boolean;
  /** Percent of a CPU for stalld's own SCHED_DEADLINE reservation, or null. */
  reservationPct: number | null;
  ignoreThreads: NamePattern[];
  ignoreProcesses: NamePattern[];
  /** CPUs stalld itself runs on, or null for "the CPUs not monitored". */
  affinity: number[] | null;
  logFormat: "text" | "json";
  metricsFile: string | null;
  metricsListen: { hostname: string; port: number; loopback: boolean } | null;
  /** --state-dir: what a restart after a crash must put back (boosts, RT throttling). */
  stateDir: string;
  /** --boost-all: do not leave fair tasks to the DL-server. */
  boostAll: boolean;
  /** --btf: kernel BTF for the BPF backends' CO-RE relocations (kernels without /sys/kernel/btf/vmlinux). */
  btfPath: string | null;
  /** A name from the backend registry (backends/registry.ts); null: the first that starts. */
  backend: string | null;
}

export const DEFAULTS = {
  thresholdS: 20,
  granularityS: 5,
  boostPeriodNs: 1_000_000_000n,
  boostRuntimeNs: 20_000n,
  boostDurationS: 3,
  stateDir: "/run/stalld",
} as const;

export interface Range {
  flag: string;
  min: number;
  max: number;
  unit: string;
}

export const RANGES = {
  threshold: { flag: "-t/--starving-threshold", min: 1, max: 3600, unit: "s" },
  granularity: { flag: "-g/--granularity", min: 1, max: 600, unit: "s" },
  duration: { flag: "-d/--boost-duration", min: 1, max: 60, unit: "s" },
  period: { flag: "-p/--boost-period", min: 200_000_000, max: 4_000_000_000, unit: "ns" },
  runtime: { flag: "-r/--boost-runtime", min: 8_000, max: 1_000_000, unit: "ns" },
  reservation: { flag: "-R/--reservation", min: 10, max: 90, unit: "%" },
  iterations: { flag: "-n/--iterations", min: 1, max: 1_000_000, unit: "refreshes" },
} satisfies Record<string, Range>;
