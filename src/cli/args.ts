// Argument definitions, as fragments the commands spread into their own
// (nuxt/cli's way): run, top and doctor take the same -c, -b, -t, --state-dir
// and --btf. Every flag of the original stalld keeps its short form and its
// underscore long name; kebab-case is the primary spelling here. -v is
// verbose, so --version's short form is -V. Ranges and defaults come from
// config.ts, backend names from the registry.
import type { ArgsDef } from "citty";
import { backendChoices } from "../backends/registry";
import { FIFO_BOOST_PRIORITY } from "../boost/policy";
import { DEFAULTS, RANGES } from "../config";

export const cpuArg = {
  cpu: {
    type: "string",
    alias: ["c"],
    valueHint: "list",
    description: "CPUs to monitor, e.g. 2-7,9 (default: all online CPUs)",
  },
} as const satisfies ArgsDef;

export const thresholdArg = {
  "starving-threshold": {
    type: "string",
    alias: ["t", "starving_threshold"],
    valueHint: "s",
    description:
      "seconds a task must wait before it is boosted " +
      `(${RANGES.threshold.min}-${RANGES.threshold.max}, default ${DEFAULTS.thresholdS})`,
  },
} as const satisfies ArgsDef;

export const backendArg = {
  backend: {
    type: "string",
    alias: ["b"],
    valueHint: "name",
    description: `how run queues are seen: ${backendChoices()} (default: the first that starts, in that order)`,
  },
} as const satisfies ArgsDef;

export const stateDirArg = {
  "state-dir": {
    type: "string",
    valueHint: "dir",
    description:
      "where boosts in progress are recorded, so a restarted stalld undoes a dead one's " +
      `(default ${DEFAULTS.stateDir})`,
  },
} as const satisfies ArgsDef;

export const btfArg = {
  btf: {
    type: "string",
    valueHint: "path",
    description: "kernel BTF file for the BPF backends (kernels without /sys/kernel/btf/vmlinux)",
  },
} as const satisfies ArgsDef;

const durationRange = `${RANGES.duration.min}-${RANGES.duration.max}`;

export const runArgs = {
  ...cpuArg,
  ...thresholdArg,
  "boost-period": {
    type: "string",
    alias: ["p", "boost_period"],
    valueHint: "ns",
    description:
      "SCHED_DEADLINE period of a boost " +
      `(${RANGES.period.min}-${RANGES.period.max}, default ${DEFAULTS.boostPeriodNs})`,
  },
  "boost-runtime": {
    type: "string",
    alias: ["r", "boost_runtime"],
    valueHint: "ns",
    description:
      "SCHED_DEADLINE runtime of a boost " +
      `(${RANGES.runtime.min}-${RANGES.runtime.max}, default ${DEFAULTS.boostRuntimeNs})`,
  },
  "boost-duration": {
    type: "string",
    alias: ["d", "boost_duration"],
    valueHint: "s",
    description: `seconds a boost lasts (${durationRange}, default ${DEFAULTS.boostDurationS})`,
  },
  granularity: {
    type: "string",
    alias: ["g"],
    valueHint: "s",
    description:
      "longest sleep between passes, seconds " +
      `(${RANGES.granularity.min}-${RANGES.granularity.max}, default ${DEFAULTS.granularityS})`,
  },
  "log-only": {
    type: "boolean",
    alias: ["l", "log_only"],
    description: "only log starving tasks; change nothing on the system",
  },
  verbose: {
    type: "boolean",
    alias: ["v"],
    description: "log debug details, the original's per-pass lines included (to stderr; implies --foreground)",
  },
  "log-kmsg": { type: "boolean", alias: ["k", "log_kmsg"], description: "also log to the kernel log (/dev/kmsg)" },
  "log-syslog": { type: "boolean", alias: ["s", "log_syslog"], description: "also log to syslog (daemon facility)" },
  foreground: {
    type: "boolean",
    alias: ["f"],
    description: "stay in the foreground (default: detach once monitoring)",
  },
  pidfile: {
    type: "string",
    alias: ["P"],
    valueHint: "path",
    description: "write the daemon's pid there (created without following symlinks, locked, removed on exit)",
  },
  "aggressive-mode": {
    type: "boolean",
    alias: ["A", "aggressive_mode"],
    description: "stalld's thread runs SCHED_FIFO and checks every CPU every pass (no idle detection)",
  },
  "power-mode": {
    type: "boolean",
    alias: ["O", "power_mode"],
    description: "one thread that wakes only when needed (the default)",
  },
  "adaptive-mode": {
    type: "boolean",
    alias: ["M", "adaptive_mode"],
    description: 'power mode plus early warnings at half the threshold ("might starve")',
  },
  "no-idle-detect": {
    type: "boolean",
    alias: ["N", "no_idle_detect"],
    description: "take a full snapshot every pass, even when every CPU idled since the last",
  },
  "force-fifo": {
    type: "boolean",
    alias: ["F", "force_fifo"],
    description: `boost with SCHED_FIFO ${FIFO_BOOST_PRIORITY}, emulating the DEADLINE runtime/period`,
  },
  systemd: {
    type: "boolean",
    alias: ["S"],
    description: "leave RT throttling to the unit; refuse to start if it is on",
  },
  reservation: {
    type: "string",
    alias: ["R"],
    valueHint: "%",
    description:
      "give stalld itself a SCHED_DEADLINE reservation of this share of a CPU " +
      `(${RANGES.reservation.min}-${RANGES.reservation.max})`,
  },
  "ignore-threads": {
    type: "string",
    alias: ["i", "ignore_threads"],
    valueHint: "regexes",
    description: "comma-separated regexes of thread names never boosted",
  },
  "ignore-processes": {
    type: "string",
    alias: ["I", "ignore_processes"],
    valueHint: "regexes",
    description: "comma-separated regexes of process names whose threads are never boosted",
  },
  affinity: {
    type: "string",
    alias: ["a"],
    valueHint: "list",
    description: "CPUs stalld itself runs on (default: the CPUs not monitored)",
  },

  ...backendArg,
  "log-format": {
    type: "string",
    valueHint: "text|json",
    description: "console log lines as text (default) or one JSON object per line",
  },
  "metrics-file": {
    type: "string",
    valueHint: "path",
    description:
      "write Prometheus metrics there after every pass (write + rename; for node_exporter's textfile collector)",
  },
  "metrics-listen": {
    type: "string",
    valueHint: "addr:port",
    description: "serve Prometheus metrics on http://ADDR:PORT/metrics (a bare PORT binds 127.0.0.1)",
  },

  ...stateDirArg,
  "boost-all": {
    type: "boolean",
    description: "boost starving fair tasks too where the kernel's DL-server already serves them",
  },

  ...btfArg,
} as const satisfies ArgsDef;
