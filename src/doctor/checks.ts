// `stalld doctor`'s decisions: facts about the machine in (gather.ts reads
// them), one row per check out, each OK / WARN / FAIL with what was found and
// the exact remedy. Pure, so every decision is tested with fake facts.

import { BACKENDS } from "../backends/registry";
import { BOOST_SHARE_PCT } from "../boost/cpu_share";
import { FIFO_BOOST_PRIORITY } from "../boost/policy";
import type { Isolation } from "../kernel/cmdline";
import { formatCpuList } from "../kernel/cpus";
import { type DlServerView, describeDlServers, dlServerEnabled } from "../kernel/dl_server";
import { HOST_PID_REMEDY, PRIVILEGED_REMEDY } from "../kernel/namespaces";
import { isPreemptRt } from "../kernel/preempt_rt";
import type { FeatureState } from "../kernel/sched_features";
import { versionAtLeast } from "../kernel/version";

export type Status = "OK" | "WARN" | "FAIL";

export interface Check {
  id: string;
  status: Status;
  found: string;
  /** What to do; empty when nothing needs doing. */
  remedy: string;
}

/** One backend's trial start, in the registry's order. */
export interface BackendTrial {
  name: string;
  /** null: it started (and took a snapshot). */
  error: string | null;
  /** What it read, when it says (backend.detail). */
  detail?: string;
}

export interface Facts {
  release: string;
  /** uname -v: carries PREEMPT_RT / PREEMPT_DYNAMIC. */
  version: string;
  realtimeFile: boolean;
  root: boolean;
  caps: { bpf: boolean; perfmon: boolean; sysAdmin: boolean };
  btf: { path: string; present: boolean };
  libbpf: string;
  /** Each backend's trial start, in the registry's order. */
  backends: BackendTrial[];
  mounts: Record<"debugfs" | "tracefs" | "bpf", { mounted: boolean; supported: boolean }>;
  lockdown: { mode: string | null; detail: string };
  rt: { runtimeUs: number; periodUs: number };
  hrtick: FeatureState;
  hrtickDl: FeatureState;
  /**
   * sched/features can be read. Lockdown hides debugfs files with a write bit
   * even from reads, so readable here means stalld can turn HRTICK_DL on.
   */
  featuresReadable: boolean;
  tickNs: number;
  dl: DlServerView;
  isolation: Isolation;
  monitored: number[];
  online: number[];
  /** The boost policy the daemon's own probe would pick. */
  boost: { method: "deadline" | "fifo" | null; detail: string };
  psi: boolean;
  /** Where it stands, as a container sees it (kernel/namespaces.ts). */
  container: { initialPidNamespace: boolean | null; rtRuntimeNotWritable: string | null; sysReadOnly: boolean };
}

const ok = (id: string, found: string): Check => ({ id, status: "OK", found, remedy: "" });
const warn = (id: string, found: string, remedy: string): Check => ({ id, status: "WARN", found, remedy });
const fail = (id: string, found: string, remedy: string): Check => ({ id, status: "FAIL", found, remedy });

export function chosenBackend(f: Facts): string | null {
  return f.backends.find((b) => b.error === null)?.name ?? null;
}

export function evaluate(f: Facts): Check[] {
  const checks: Check[] = [];
  const add = (c: Check) => checks.push(c);

  add(
    versionAtLeast(f.release, 5, 8)
      ? ok("kernel", `${f.release}`)
      : warn(
          "kernel",
          `${f.release}: older than 5.8, no BPF task iterator`,
          "the BPF backends need Linux 5.8+; stalld falls back to sched_debug",
        ),
  );

  const preemptRt = isPreemptRt(f.realtimeFile ? "1" : null, f.version);
  const model = preemptRt
    ? "PREEMPT_RT"
    : /\bPREEMPT_DYNAMIC\b/.test(f.version)
      ? "PREEMPT_DYNAMIC (not PREEMPT_RT)"
      : /\bPREEMPT\b/.test(f.version)
        ? "PREEMPT (not PREEMPT_RT)"
        : "not preemptible (not PREEMPT_RT)";
  add(ok("preempt-rt", model));

  add(
    f.root && (f.caps.sysAdmin || (f.caps.bpf && f.caps.perfmon))
      ? ok("privileges", `root, ${f.caps.sysAdmin ? "CAP_SYS_ADMIN" : "CAP_BPF + CAP_PERFMON"}`)
      : fail(
          "privileges",
          f.root ? "root without CAP_BPF+CAP_PERFMON or CAP_SYS_ADMIN" : "not root",
          "run stalld (and doctor) as root with its full capability set",
        ),
  );

  add(
    f.btf.present
      ? ok("btf", f.btf.path)
      : warn(
          "btf",
          `no ${f.btf.path}`,
          "the BPF backends need kernel BTF: a kernel with CONFIG_DEBUG_INFO_BTF, or --btf FILE (e.g. from BTFHub)",
        ),
  );

  add(
    versionAtLeast(f.libbpf, 1, 0)
      ? ok("libbpf", f.libbpf)
      : warn("libbpf", f.libbpf, "install libbpf 1.0 or newer (libbpf1)"),
  );

  const c = f.container;
  if (c.initialPidNamespace === false)
    add(
      fail(
        "pid-namespace",
        "a pid namespace of its own (a container without the host's pids): BPF reports host pids this /proc lacks",
        HOST_PID_REMEDY,
      ),
    );
  else
    add(ok("pid-namespace", c.initialPidNamespace === null ? "unknown (/proc/self/ns/pid unreadable)" : "the host's"));
  if (c.rtRuntimeNotWritable)
    add(
      warn(
        "sysctl",
        `/proc/sys/kernel/sched_rt_runtime_us cannot be written (${c.rtRuntimeNotWritable})`,
        `run refuses unless -l or --systemd; ${PRIVILEGED_REMEDY}`,
      ),
    );
  else add(ok("sysctl", "/proc/sys/kernel/sched_rt_runtime_us can be written"));
  if (c.sysReadOnly)
    add(
      warn(
        "sysfs",
        "/sys is mounted read-only (a container?)",
        `debugfs may not mount on /sys/kernel/debug: ${PRIVILEGED_REMEDY}, or mount the host's /sys/kernel/debug`,
      ),
    );

  for (const spec of BACKENDS) {
    const trial = f.backends.find((b) => b.name === spec.name);
    if (!trial) continue;
    const { id, works } = spec.doctor;
    if (trial.error === null) add(ok(id, `${works}${trial.detail ? `: ${trial.detail}` : ""}`));
    else add(warn(id, `${spec.name}: ${trial.error}`, `${spec.needs}; stalld uses the next backend`));
  }

  const chosen = chosenBackend(f);
  const before = f.backends
    .slice(
      0,
      f.backends.findIndex((b) => b.name === chosen),
    )
    .map((b) => b.name);
  add(
    chosen
      ? ok(
          "backend",
          `run would use ${chosen}${before.length ? `: ${before.join(", ")} cannot start` : " (the first choice)"}`,
        )
      : fail(
          "backend",
          "no backend can start",
          `see the ${BACKENDS.map((b) => b.doctor.id).join(", ")} rows: give the kernel BTF (or --btf), ` +
            "or make sched/debug readable",
        ),
  );

  for (const fs of ["debugfs", "tracefs", "bpf"] as const) {
    const m = f.mounts[fs];
    const name = fs === "bpf" ? "bpffs" : fs;
    if (m.mounted) add(ok(name, "mounted"));
    else if (m.supported)
      add(
        ok(
          name,
          "not mounted; the kernel has it " +
            `(${fs === "debugfs" ? "stalld mounts it when it needs it" : "stalld does not need it"})`,
        ),
      );
    else
      add(
        warn(
          name,
          "not in this kernel",
          fs === "debugfs"
            ? "sched_debug, HRTICK_DL and the DL-server's debugfs files need CONFIG_DEBUG_FS"
            : `stalld does not need ${name}; tools like bpftool do`,
        ),
      );
  }

  const lock = f.lockdown.mode;
  if (lock === null)
    add(
      warn(
        "lockdown",
        `unknown (${f.lockdown.detail})`,
        "nothing to do unless the rows below fail; mount securityfs to see it",
      ),
    );
  else if (lock === "none") add(ok("lockdown", "none"));
  else if (lock === "integrity")
    add(
      ok(
        "lockdown",
        "integrity: debugfs files with a write bit cannot be read or written (sched/features, fair_server); " +
          "stalld reads them from sched/debug's bitmask and through BPF",
      ),
    );
  else
    add(
      warn(
        "lockdown",
        `${lock}: BPF reads of kernel memory and debugfs are refused`,
        "stalld cannot see run queues under lockdown=confidentiality; boot with lockdown=integrity or none",
      ),
    );

  if (f.rt.runtimeUs === -1)
    add(
      ok("rt-throttling", "off (sched_rt_runtime_us = -1): no DEADLINE admission control, boosting pinned tasks works"),
    );
  else
    add(
      ok(
        "rt-throttling",
        `on (${f.rt.runtimeUs} of ${f.rt.periodUs} us): ` +
          "DEADLINE admission control refuses to boost pinned tasks (EPERM); " +
          `stalld run turns throttling off while it runs and puts ${f.rt.runtimeUs} back ` +
          "(with --systemd, the unit must: stalld throttle off)",
      ),
    );

  const bits = (s: FeatureState) => `${s.state}${s.source ? ` (${s.source})` : ""}`;
  const hr = `HRTICK ${bits(f.hrtick)}, HRTICK_DL ${bits(f.hrtickDl)}`;
  if (f.hrtickDl.state === "on") add(ok("hrtick", `${hr}: microsecond boost runtimes are enforced`));
  else if (f.featuresReadable) add(ok("hrtick", `${hr}: stalld run turns HRTICK_DL on while it runs`));
  else
    add(
      warn(
        "hrtick",
        `${hr}; sched/features is not writable (${f.hrtickDl.detail})`,
        `boosts shorter than the tick (${f.tickNs / 1e6} ms) run a whole tick: stalld raises -r to one tick; ` +
          "boot without lockdown to enforce microseconds",
      ),
    );

  const dlText = describeDlServers(f.dl, f.monitored);
  if (f.dl.kind === "none") add(ok("dl-server", "none in this kernel (< 6.12): stalld boosts every starving task"));
  else if (f.dl.kind === "unknown")
    add(warn("dl-server", dlText, "stalld boosts every starving task; make BPF loadable or debugfs readable to know"));
  else {
    const off = f.monitored.filter((c) => dlServerEnabled(f.dl, c) === false);
    add(
      ok(
        "dl-server",
        `${dlText} (${f.dl.source}): ` +
          `fair tasks ${off.length ? `on CPUs other than ${formatCpuList(off)} ` : ""}are left to it, ` +
          "RT starvation is stalld's",
      ),
    );
  }

  const iso = f.isolation;
  const isolated = [...new Set([...iso.isolcpus, ...iso.nohzFull])].sort((a, b) => a - b);
  const cmd = [
    iso.isolcpus.length && `isolcpus=${formatCpuList(iso.isolcpus)}`,
    iso.nohzFull.length && `nohz_full=${formatCpuList(iso.nohzFull)}`,
    iso.rcuNocbs.length && `rcu_nocbs=${formatCpuList(iso.rcuNocbs)}`,
  ]
    .filter(Boolean)
    .join(" ");
  if (iso.unparsed.length)
    add(warn("isolation", `cannot read ${iso.unparsed.join(" ")}`, "check the kernel command line"));
  else if (!isolated.length)
    add(ok("isolation", `no isolcpus/nohz_full on the kernel command line; monitoring ${formatCpuList(f.monitored)}`));
  else {
    const missed = isolated.filter((c) => !f.monitored.includes(c));
    const nocbMissing = iso.nohzFull.filter((c) => !iso.rcuNocbs.includes(c));
    if (missed.length)
      add(
        warn(
          "isolation",
          `${cmd}; isolated CPU(s) ${formatCpuList(missed)} not monitored`,
          `monitor the isolated CPUs: -c ${formatCpuList(isolated)}`,
        ),
      );
    else if (nocbMissing.length)
      add(
        warn(
          "isolation",
          `${cmd}; nohz_full CPU(s) ${formatCpuList(nocbMissing)} still run RCU callbacks`,
          `add rcu_nocbs=${formatCpuList(iso.nohzFull)} to the kernel command line`,
        ),
      );
    else add(ok("isolation", `${cmd}; all isolated CPUs monitored`));
  }

  add(
    f.psi
      ? ok("psi", "/proc/pressure/cpu: passes with nothing waiting are skipped")
      : ok("psi", "not available (psi=0 or CONFIG_PSI off): idle skipping uses /proc/stat only"),
  );

  const precise =
    f.hrtickDl.state === "on" || f.featuresReadable
      ? "runtimes below the tick enforced by HRTICK_DL"
      : `a one-tick runtime (${f.tickNs / 1e6} ms), HRTICK_DL being out of reach`;
  if (f.boost.method === "deadline")
    add(
      ok(
        "boost",
        `SCHED_DEADLINE (${f.boost.detail}): the kernel enforces every boost, whatever the task does, and it ` +
          `preempts any SCHED_FIFO priority; ${precise}; raised only to repay an overrun or for a task given ` +
          `nothing, up to period/20; all boosts on a CPU within ${BOOST_SHARE_PCT} % of it`,
      ),
    );
  else if (f.boost.method === "fifo")
    add(
      warn(
        "boost",
        `only SCHED_FIFO can be set (${f.boost.detail}): boosts would be FIFO ${FIFO_BOOST_PRIORITY} slices that ` +
          `stalld's own timer ends, which cannot preempt a SCHED_FIFO 99 task`,
        "check sched_rt_runtime_us and cgroup cpu.rt settings, so that SCHED_DEADLINE can be set",
      ),
    );
  else
    add(
      fail(
        "boost",
        `neither SCHED_DEADLINE nor SCHED_FIFO can be set: ${f.boost.detail}`,
        "stalld would only log (-l): run it as root outside a restricting cgroup or container",
      ),
    );
  return checks;
}

/** 0: run works with boosting; 1: only log-only would; 2: it cannot run. */
export function doctorExit(f: Facts, checks: readonly Check[]): 0 | 1 | 2 {
  const fatal = (id: string) => checks.some((c) => c.id === id && c.status === "FAIL");
  if (!chosenBackend(f) || fatal("privileges") || fatal("pid-namespace")) return 2;
  return f.boost.method ? 0 : 1;
}
