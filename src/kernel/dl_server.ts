// The DL-server (fair_server, Linux >= 6.12) gives fair tasks runtime/period
// of every CPU (50 ms per 1 s by default) even behind an RT hog, so it already
// rescues starving SCHED_OTHER/BATCH/IDLE tasks, where its runtime is not 0.
// Per CPU, from debugfs where it can be read, else from rq->fair_server via
// BPF (dl_server_bpf.ts): lockdown makes those debugfs files unreadable.
import { existsSync, readFileSync } from "node:fs";
import { PSEUDO_FS } from "./mounts";
import { kernelRelease } from "./proc";
import { versionAtLeast } from "./version";

export const FAIR_SERVER_DIR = `${PSEUDO_FS.debugfs}/sched/fair_server`;

export interface DlServerCpu {
  cpu: number;
  /** 0: turned off by the admin. */
  runtimeNs: number;
  periodNs: number;
  /** Running or armed now; null where the kernel or the source does not say. */
  active: boolean | null;
}

export interface DlServerView {
  /** "none": the kernel has no DL-server; "known": per-CPU facts; "unknown": nothing could tell. */
  kind: "none" | "known" | "unknown";
  /** Where the facts come from, or why they are unknown. */
  source: string;
  cpus: Map<number, DlServerCpu>;
}

/** Whether the DL-server serves fair tasks on `cpu`: null when unknown. */
export function dlServerEnabled(view: DlServerView, cpu: number): boolean | null {
  if (view.kind === "none") return false;
  if (view.kind === "unknown") return null;
  const c = view.cpus.get(cpu);
  return c ? c.runtimeNs > 0 && c.periodNs > 0 : null;
}

/** Its directory exists on kernels that have one (debugfs mounted), even when lockdown hides the files. */
export function dlServerPresent(dir = FAIR_SERVER_DIR): boolean {
  return existsSync(dir);
}

/** cpuN/runtime and cpuN/period (ns); throws (EPERM under lockdown) when they cannot be read. */
export function readDlServerDebugfs(cpus: readonly number[], dir = FAIR_SERVER_DIR): DlServerView {
  const out = new Map<number, DlServerCpu>();
  for (const cpu of cpus) {
    const num = (f: string) => {
      const v = Number(readFileSync(`${dir}/cpu${cpu}/${f}`, "utf8").trim());
      if (!Number.isFinite(v)) throw new Error(`${dir}/cpu${cpu}/${f}: not a number`);
      return v;
    };
    out.set(cpu, { cpu, runtimeNs: num("runtime"), periodNs: num("period"), active: null });
  }
  return { kind: "known", source: "debugfs", cpus: out };
}

const ms = (ns: number) => `${+(ns / 1e6).toFixed(3)}`;

/** One CPU's server: "50/1000 ms active", "off (runtime 0)", "none", "?". */
export function describeDlServer(view: DlServerView, cpu: number): string {
  if (view.kind === "none") return "none";
  const c = view.cpus.get(cpu);
  if (view.kind === "unknown" || !c) return "?";
  if (c.runtimeNs === 0) return "off (runtime 0)";
  return `${ms(c.runtimeNs)}/${ms(c.periodNs)} ms${c.active === null ? "" : c.active ? " active" : " idle"}`;
}

/** "CPU 0 50/1000 ms active, CPU 1 off (runtime 0)". */
export function describeDlServers(view: DlServerView, cpus: readonly number[]): string {
  if (view.kind === "none") return "none in this kernel";
  if (view.kind === "unknown") return `unknown (${view.source})`;
  return cpus.map((cpu) => `CPU ${cpu} ${describeDlServer(view, cpu)}`).join(", ");
}

export interface DlServerSources {
  /** rq->fair_server through BPF; throws with the reason when it cannot load. */
  bpf?: () => DlServerView;
  debugfs?: () => DlServerView;
  present?: () => boolean;
  /** Kernel release, for "none" when nothing else can say. */
  release?: string;
}

/** This system's debugfs files, directory and kernel release, for readDlServers (BPF is added by dl_server_bpf.ts). */
export function systemDlSources(cpus: readonly number[]): DlServerSources {
  return { debugfs: () => readDlServerDebugfs(cpus), present: () => dlServerPresent(), release: kernelRelease() };
}

/** Before 6.12 there is no DL-server. */
export function kernelHasDlServer(release: string): boolean {
  return versionAtLeast(release, 6, 12);
}

/**
 * BPF first (it also tells whether a server is active now), then debugfs.
 * If neither answers: "none" on a kernel older than 6.12, else "unknown".
 */
export function readDlServers(src: DlServerSources): DlServerView {
  const why: string[] = [];
  if (src.bpf) {
    try {
      return src.bpf();
    } catch (e) {
      why.push(`BPF: ${(e as Error).message}`);
    }
  }
  if (src.debugfs) {
    try {
      return src.debugfs();
    } catch (e) {
      why.push(`debugfs: ${(e as Error).message}`);
    }
  }
  if (src.present && !src.present() && src.release && !kernelHasDlServer(src.release))
    return { kind: "none", source: `kernel ${src.release}`, cpus: new Map() };
  return { kind: "unknown", source: why.join("; ") || "no source", cpus: new Map() };
}

/** How often the view is read again when a decision needs it: an admin may change a server's runtime. */
export const DL_VIEW_MAX_AGE_NS = 10e9;

/** The last view, read again when older than DL_VIEW_MAX_AGE_NS (the daemon and top share it). */
export class DlServerWatch {
  private view: DlServerView | null = null;
  private atNs = 0;

  constructor(private readonly read: () => DlServerView) {}

  get(nowNs: number): DlServerView {
    if (!this.view || nowNs - this.atNs >= DL_VIEW_MAX_AGE_NS) {
      this.view = this.read();
      this.atNs = nowNs;
    }
    return this.view;
  }
}
