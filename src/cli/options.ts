// Turns parsed command-line arguments into a validated RunConfig, or one
// UsageError line naming the flag and what it accepts. Nothing here touches
// the system beyond reading which CPUs exist.

import { statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { ArgsDef } from "citty";
import { RE2JS } from "re2js";
import { BACKENDS, findBackend } from "../backends/registry";
import { DEFAULTS, type Mode, type NamePattern, RANGES, type Range, type RunConfig } from "../config";
import { UsageError } from "../errors";
import { CpuListError, parseCpuList } from "../kernel/cpus";
import { parseListen, unsafeMetricsDir } from "../metrics/metrics";

/** A whole number in its flag's range; `fallback` when absent. */
export function integer(raw: unknown, r: Range, fallback: number): number {
  if (raw === undefined) return fallback;
  const s = String(raw).trim();
  if (!/^\d+$/.test(s))
    throw new UsageError(
      `${r.flag}: "${raw}" is not a whole number of ${r.unit} (allowed ${r.min}-${r.max} ${r.unit})`,
    );
  const v = Number(s);
  if (v < r.min || v > r.max)
    throw new UsageError(`${r.flag}: ${v} ${r.unit} is out of range (allowed ${r.min}-${r.max} ${r.unit})`);
  return v;
}

/** Every spelling citty accepts for the defined args, to reject the rest. */
function knownKeys(defs: ArgsDef): Set<string> {
  const known = new Set(["_"]);
  const camel = (s: string) => s.replace(/[-_]([a-z])/g, (_, c: string) => c.toUpperCase());
  for (const [name, def] of Object.entries(defs)) {
    const aliases = "alias" in def && def.alias ? (Array.isArray(def.alias) ? def.alias : [def.alias]) : [];
    for (const n of [name, ...aliases]) {
      known.add(n);
      known.add(camel(n));
      known.add(n.replace(/_/g, "-"));
    }
  }
  return known;
}

/** Rejects flags and positional words that no definition accepts. */
export function rejectUnknown(parsed: Record<string, unknown>, defs: ArgsDef): void {
  const known = knownKeys(defs);
  for (const key of Object.keys(parsed)) {
    if (!known.has(key)) throw new UsageError(`unknown option ${key.length === 1 ? "-" : "--"}${key} (see --help)`);
  }
  const positional = parsed._ as string[] | undefined;
  if (positional && positional.length > 0) throw new UsageError(`unexpected argument "${positional[0]}" (see --help)`);
}

export function parseRunConfig(
  args: Record<string, unknown>,
  onlineCpus: readonly number[],
  nrCpus: number,
): RunConfig {
  const get = (name: string) => {
    const v = args[name];
    if (v === "") throw new UsageError(`--${name} needs a value`);
    return v;
  };
  const thresholdS = integer(get("starving-threshold"), RANGES.threshold, DEFAULTS.thresholdS);
  const granularityS = integer(get("granularity"), RANGES.granularity, DEFAULTS.granularityS);
  const boostDurationS = integer(get("boost-duration"), RANGES.duration, DEFAULTS.boostDurationS);
  const boostPeriodNs = BigInt(integer(get("boost-period"), RANGES.period, Number(DEFAULTS.boostPeriodNs)));
  const boostRuntimeNs = BigInt(integer(get("boost-runtime"), RANGES.runtime, Number(DEFAULTS.boostRuntimeNs)));

  if (boostRuntimeNs > boostPeriodNs)
    throw new UsageError(
      `-r/--boost-runtime (${boostRuntimeNs} ns) must not exceed -p/--boost-period (${boostPeriodNs} ns)`,
    );
  if (boostPeriodNs > BigInt(boostDurationS) * 1_000_000_000n)
    throw new UsageError(
      `-p/--boost-period (${boostPeriodNs} ns) must not exceed -d/--boost-duration (${boostDurationS} s)`,
    );
  if (boostDurationS > thresholdS)
    throw new UsageError(
      `-d/--boost-duration (${boostDurationS} s) must not exceed -t/--starving-threshold (${thresholdS} s)`,
    );

  const rawBackend = get("backend");
  const backend = backendArg(rawBackend);

  const rawCpus = get("cpu");
  const cpus = rawCpus === undefined ? [...onlineCpus] : cpuListArg("-c/--cpu", rawCpus, onlineCpus, nrCpus);
  const rawAffinity = get("affinity");
  const affinity = rawAffinity === undefined ? null : cpuListArg("-a/--affinity", rawAffinity, onlineCpus, nrCpus);

  const modes = (["aggressive-mode", "adaptive-mode", "power-mode"] as const).filter((m) => args[m]);
  if (modes.length > 1)
    throw new UsageError(
      "choose one of -A/--aggressive-mode, -M/--adaptive-mode, -O/--power-mode " +
        `(got ${modes.map((m) => `--${m}`).join(" and ")})`,
    );
  const mode: Mode =
    modes[0] === "aggressive-mode" ? "aggressive" : modes[0] === "adaptive-mode" ? "adaptive" : "power";

  const rawReservation = get("reservation");
  const reservationPct = rawReservation === undefined ? null : integer(rawReservation, RANGES.reservation, 0);
  if (reservationPct !== null && mode !== "power")
    throw new UsageError(`-R/--reservation works only in single-threaded (power) mode, not with --${modes[0]}`);

  const rawBtf = get("btf");
  const btfPath = rawBtf === undefined ? null : resolve(String(rawBtf));
  if (btfPath !== null) {
    if (backend && !findBackend(backend)!.btf)
      throw new UsageError(`--btf is for the BPF backends; -b ${backend} uses none`);
    let regular = false;
    try {
      regular = statSync(btfPath).isFile();
    } catch {}
    if (!regular) throw new UsageError(`--btf: ${btfPath} is not a readable file (a kernel BTF, e.g. from BTFHub)`);
  }

  const rawPidfile = get("pidfile");
  const pidfile = rawPidfile === undefined ? null : resolve(String(rawPidfile));
  const verbose = Boolean(args.verbose);

  return {
    cpus,
    thresholdS,
    granularityS,
    boostPeriodNs,
    boostRuntimeNs,
    boostDurationS,
    logOnly: Boolean(args["log-only"]),
    verbose,
    logKmsg: Boolean(args["log-kmsg"]),
    logSyslog: Boolean(args["log-syslog"]),
    foreground: Boolean(args.foreground) || verbose,
    pidfile,
    mode,
    idleDetect: !args["no-idle-detect"] && mode !== "aggressive",
    forceFifo: Boolean(args["force-fifo"]),
    systemd: Boolean(args.systemd),
    reservationPct,
    ignoreThreads: regexList("-i/--ignore-threads", get("ignore-threads")),
    ignoreProcesses: regexList("-I/--ignore-processes", get("ignore-processes")),
    affinity,
    backend,
    btfPath,
    boostAll: Boolean(args["boost-all"]),
    stateDir: resolve(String(get("state-dir") ?? DEFAULTS.stateDir)),
    logFormat: logFormat(get("log-format")),
    metricsFile: metricsFile(get("metrics-file")),
    metricsListen: metricsListen(get("metrics-listen")),
  };
}

function logFormat(raw: unknown): RunConfig["logFormat"] {
  if (raw === undefined || raw === "text") return "text";
  if (raw === "json") return "json";
  throw new UsageError(`--log-format: "${raw}" is not a format (text or json)`);
}

function metricsFile(raw: unknown): string | null {
  if (raw === undefined) return null;
  const path = resolve(String(raw));
  let dirMode: number | null = null;
  try {
    const st = statSync(dirname(path));
    if (st.isDirectory()) dirMode = st.mode;
  } catch {}
  if (dirMode === null) throw new UsageError(`--metrics-file: ${dirname(path)} is not a directory`);
  const unsafe = unsafeMetricsDir(dirMode);
  if (unsafe) throw new UsageError(`--metrics-file: ${dirname(path)} ${unsafe}`);
  try {
    if (statSync(path).isDirectory()) throw new UsageError(`--metrics-file: ${path} is a directory`);
  } catch (e) {
    if (e instanceof UsageError) throw e;
  }
  return path;
}

function metricsListen(raw: unknown): RunConfig["metricsListen"] {
  if (raw === undefined) return null;
  try {
    return parseListen(String(raw));
  } catch (e) {
    throw new UsageError(`--metrics-listen: ${(e as Error).message}`);
  }
}

/** -b's name or letter, as the registry's name; null when absent. */
export function backendArg(raw: unknown): string | null {
  if (raw === undefined) return null;
  const spec = findBackend(String(raw));
  if (!spec) {
    const choices = BACKENDS.map((b) => `${b.name} or ${b.alias}`).join(", ");
    throw new UsageError(`-b/--backend: unknown backend "${raw}" (available: ${choices})`);
  }
  return spec.name;
}

export function cpuListArg(flag: string, raw: unknown, onlineCpus: readonly number[], nrCpus: number): number[] {
  let cpus: number[];
  try {
    cpus = parseCpuList(String(raw), nrCpus);
  } catch (e) {
    if (e instanceof CpuListError) throw new UsageError(`${flag}: ${e.message}`);
    throw e;
  }
  const offline = cpus.filter((c) => !onlineCpus.includes(c));
  if (offline.length) throw new UsageError(`${flag}: cpu ${offline.join(",")} is offline`);
  return cpus;
}

/**
 * The original splits on commas and matches anywhere in the name (regexec).
 * Compiled with re2js: linear in the name whatever the pattern, and with `.`
 * matching a newline too, since a name can hold one and must not slip past.
 */
function regexList(flag: string, raw: unknown): NamePattern[] {
  if (raw === undefined) return [];
  if (typeof raw !== "string") throw new UsageError(`${flag} needs a value`);
  return raw.split(",").map((src) => {
    if (!src) throw new UsageError(`${flag}: empty pattern in "${raw}" (a comma-separated list of regexes)`);
    try {
      return RE2JS.compile(src, RE2JS.DOTALL);
    } catch (e) {
      throw new UsageError(`${flag}: "${src}" is not a valid regex: ${(e as Error).message}`);
    }
  });
}
