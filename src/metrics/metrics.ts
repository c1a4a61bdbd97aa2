// What stalld counts, rendered as Prometheus text exposition (version 0.0.4)
// for node_exporter's textfile collector (--metrics-file) or a scrape of
// /metrics on loopback (--metrics-listen).
import { randomBytes } from "node:crypto";
import { closeSync, constants as fsc, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { isIPv6 } from "node:net";
import { basename, dirname, join } from "node:path";
import type { BoostEvents } from "../boost/types";
import { policyName } from "../kernel/sched_attr";

type Labels = Record<string, string>;

/** A counter or gauge family: one value per label set. */
class Family {
  private readonly values = new Map<string, { labels: Labels; value: number }>();

  constructor(
    readonly name: string,
    readonly type: "counter" | "gauge",
    readonly help: string,
  ) {}

  add(n: number, labels: Labels = {}): void {
    const key = JSON.stringify(labels);
    const v = this.values.get(key);
    if (v) v.value += n;
    else this.values.set(key, { labels, value: n });
  }

  set(n: number, labels: Labels = {}): void {
    this.values.set(JSON.stringify(labels), { labels, value: n });
  }

  get(labels: Labels = {}): number {
    return this.values.get(JSON.stringify(labels))?.value ?? 0;
  }

  clear(): void {
    this.values.clear();
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
    if (!this.values.size && this.type === "counter") lines.push(`${this.name} 0`);
    for (const { labels, value } of this.values.values())
      lines.push(`${this.name}${formatLabels(labels)} ${formatValue(value)}`);
    return lines.join("\n");
  }
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function formatLabels(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

function formatValue(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(9).replace(/\.?0+$/, "");
}

export class Metrics {
  readonly info = new Family("stalld_info", "gauge", "Always 1; labels say the version and the backend.");
  readonly passes = new Family("stalld_passes_total", "counter", "Detection passes.");
  readonly skipped = new Family(
    "stalld_passes_skipped_total",
    "counter",
    "Passes that skipped the snapshot, by sign (idle CPUs, or PSI showing no wait).",
  );
  readonly passSeconds = new Family(
    "stalld_pass_duration_seconds_sum",
    "counter",
    "Wall time spent in detection passes.",
  );
  readonly lastPassSeconds = new Family(
    "stalld_pass_duration_seconds_last",
    "gauge",
    "Wall time of the last detection pass.",
  );
  readonly starving = new Family(
    "stalld_starving_detected_total",
    "counter",
    "Starving tasks found (each pass that finds a task counts it).",
  );
  readonly boosts = new Family(
    "stalld_boosts_total",
    "counter",
    "Boosts applied, by the task's policy before the boost.",
  );
  readonly failures = new Family(
    "stalld_boost_failures_total",
    "counter",
    "Boosts that could not be applied, by errno.",
  );
  readonly restores = new Family(
    "stalld_restores_total",
    "counter",
    "Boosted tasks put back to their saved attributes.",
  );
  readonly leftToDl = new Family(
    "stalld_left_to_dl_server_total",
    "counter",
    "Starving fair tasks left to the kernel's DL-server.",
  );
  readonly longestWait = new Family(
    "stalld_longest_wait_seconds",
    "gauge",
    "Longest current wait of a runnable task on each monitored CPU, at the last snapshot.",
  );
  readonly boosting = new Family("stalld_boosting", "gauge", "Tasks boosted right now.");
  readonly raises = new Family(
    "stalld_boost_raises_total",
    "counter",
    "Boosts raised while they ran: the task was in debt, or had not run at all.",
  );
  readonly rearms = new Family(
    "stalld_boost_rearms_total",
    "counter",
    "Boosts set again because the task ran nothing while queued (a stale DEADLINE throttle).",
  );
  readonly bounded = new Family(
    "stalld_boosts_bounded_total",
    "counter",
    "Boosts (what=boost) and raises (what=raise) left out because the boosts on that CPU held its whole share.",
  );
  readonly dropped = new Family(
    "stalld_dropped_tasks_total",
    "counter",
    "Tasks the backend could not track (a full map).",
  );
  private readonly families = [
    this.info,
    this.passes,
    this.skipped,
    this.passSeconds,
    this.lastPassSeconds,
    this.starving,
    this.boosts,
    this.failures,
    this.restores,
    this.leftToDl,
    this.longestWait,
    this.boosting,
    this.raises,
    this.rearms,
    this.bounded,
    this.dropped,
  ];

  /** performance.now() of the last pass (the creation until the first): what /healthz judges. */
  private lastPassAtMs = performance.now();

  constructor(private readonly version: string) {}

  /** A pass ran now (skipped or not). */
  passed(): void {
    this.lastPassAtMs = performance.now();
  }

  /** Whether passes keep coming: the last within maxAgeMs. */
  health(maxAgeMs: number): { ok: boolean; detail: string } {
    const ageS = (performance.now() - this.lastPassAtMs) / 1000;
    const ok = ageS * 1000 <= maxAgeMs;
    return { ok, detail: `last pass ${ageS.toFixed(1)} s ago (at most ${maxAgeMs / 1000} s)` };
  }

  /** The backend label of stalld_info, once the backend has started. */
  setBackend(backend: string): void {
    this.info.set(1, { version: this.version, backend });
  }

  /** stalld_longest_wait_seconds of each monitored CPU from a snapshot's waiters (0 where none wait). */
  setLongestWaits(cpus: readonly number[], waiters: readonly { cpu: number; waitedNs: number }[]): void {
    const longest = new Map<number, number>(cpus.map((c) => [c, 0]));
    for (const w of waiters) if (longest.has(w.cpu)) longest.set(w.cpu, Math.max(longest.get(w.cpu)!, w.waitedNs));
    for (const [cpu, ns] of longest) this.longestWait.set(ns / 1e9, { cpu: String(cpu) });
  }

  boostEvents(): BoostEvents {
    return {
      boosted: (_t, saved) => this.boosts.add(1, { policy: policyName(saved.policy) }),
      failed: (_t, code) => this.failures.add(1, { errno: code }),
      restored: () => this.restores.add(1),
      raised: () => this.raises.add(1),
      rearmed: () => this.rearms.add(1),
      bounded: (t, what) => this.bounded.add(1, { cpu: String(t.cpu), what }),
    };
  }

  render(): string {
    return `${this.families.map((f) => f.render()).join("\n")}\n`;
  }
}

/**
 * Write, then rename in the same directory: the textfile collector never reads
 * half a file. No fsync: a reader needs atomicity, not durability, and an
 * fsync per pass cost ~10 times the pass itself (BENCHMARKS.md, figure 7).
 * The temporary file has a random name and is created new (O_EXCL), never
 * through a symlink, never blocking (a FIFO planted there fails, ENXIO), and
 * is removed if anything fails.
 */
export function writeMetricsFile(path: string, text: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW | fsc.O_NONBLOCK, 0o644);
  try {
    try {
      writeSync(fd, text);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Why a directory is no place for the metrics file (writable by others without the sticky bit), or null. */
export function unsafeMetricsDir(mode: number): string | null {
  return mode & 0o022 && !(mode & 0o1000)
    ? "is writable by other users without the sticky bit: they could replace the file stalld renames into place"
    : null;
}

/** "127.0.0.1:9101", "[::1]:9101", ":9101" or "9101" (loopback). Throws with the reason. */
export function parseListen(raw: string): { hostname: string; port: number; loopback: boolean } {
  const text = raw.trim();
  // An unbracketed IPv6 literal is taken too, its last colon before the port: Kubernetes splices a pod's
  // IP into `$(POD_IP):9101` and cannot add brackets.
  const m =
    /^(?:(\[[0-9a-fA-F:.]+\]|[^:[\]]*):)?(\d+)$/.exec(text) ?? /^([0-9a-fA-F:.]*:[0-9a-fA-F:.]*):(\d+)$/.exec(text);
  if (!m) throw new Error(`"${raw}" is not HOST:PORT`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new Error(`port ${port} is out of range (1-65535)`);
  const host = m[1] ? m[1].replace(/^\[|\]$/g, "") : "127.0.0.1";
  if (host.includes(":") && !isIPv6(host)) throw new Error(`"${host}" is not an IPv6 address`);
  // "localhost" is taken to mean the loopback address itself, not whatever resolving it gives.
  const hostname = host === "" || host === "localhost" ? "127.0.0.1" : host;
  // Loopback is judged on IP literals only: "127.evil.example" is a name, and names resolve anywhere.
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(hostname);
  const loopback =
    (v4 !== null && v4[1] === "127" && v4.slice(1).every((o) => Number(o) <= 255)) ||
    (isIPv6(hostname) && isLoopbackV6(hostname));
  return { hostname, port, loopback };
}

/** ::1 in any of its spellings (0:0:0:0:0:0:0:1, ::0:1): the URL parser writes an IPv6 address canonically. */
function isLoopbackV6(address: string): boolean {
  return new URL(`http://[${address}]/`).hostname === "[::1]";
}
