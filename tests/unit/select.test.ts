// Backend choice and fallback, with fake backends.
import { describe, expect, test } from "bun:test";
import { type Backend, BackendUnavailable } from "../../src/backends/backend";
import { NoBackend, startFirstAvailable } from "../../src/backends/select";
import { missingScanFeatures } from "../../src/backends/task_scan";
import { condenseFailure } from "../../src/bpf/common";
import { SCAN_HAS } from "../../src/bpf/records";
import type { Logger } from "../../src/log/logger";
import { recordingLogger } from "../helpers/fakes";

function fake(name: string, fails?: string | Error): Backend & { started: boolean } {
  return {
    name,
    kernelDatedWaits: true,
    started: false,
    start() {
      if (typeof fails === "string") throw new BackendUnavailable(name, fails);
      if (fails) throw fails;
      this.started = true;
    },
    snapshot: () => ({ nowNs: 0n, waiters: [], running: [] }),
    forget() {},
    stats: () => ({ dropped: 0 }),
    stop() {},
  };
}

/** The registry's entries are found by name: tests name them only. */
const start = (names: string[], make: (name: string) => Backend, log: Logger) =>
  startFirstAvailable(
    names.map((name) => ({ name })),
    (c) => make(c.name),
    log,
  );

describe("startFirstAvailable", () => {
  test("the first that starts is used; the others are never made", () => {
    const { log, lines } = recordingLogger();
    const made: string[] = [];
    const b = start(["task_scan", "queue_track"], (n) => (made.push(n), fake(n)), log);
    expect(b.name).toBe("task_scan");
    expect(made).toEqual(["task_scan"]);
    expect(lines).toEqual([]);
  });

  test("one that cannot start is one warning naming the reason and the one used", () => {
    const { log, lines } = recordingLogger();
    const b = start(
      ["task_scan", "queue_track"],
      (n) => fake(n, n === "task_scan" ? "CONFIG_SCHED_INFO off" : undefined),
      log,
    );
    expect(b.name).toBe("queue_track");
    expect(lines).toEqual([{ level: "warn", msg: "task_scan unavailable: CONFIG_SCHED_INFO off; using queue_track" }]);
  });

  test("several that cannot start are still one line; the same reason is said once", () => {
    const { log, lines } = recordingLogger();
    const b = start(
      ["task_scan", "queue_track", "sched_debug"],
      (n) => fake(n, n === "sched_debug" ? undefined : "bpf_object__load: ENOENT: failed to parse target BTF"),
      log,
    );
    expect(b.name).toBe("sched_debug");
    expect(lines).toEqual([
      {
        level: "warn",
        msg: "task_scan, queue_track unavailable: bpf_object__load: ENOENT: failed to parse target BTF; using sched_debug",
      },
    ]);
    const { log: log2, lines: lines2 } = recordingLogger();
    start(
      ["task_scan", "queue_track", "sched_debug"],
      (n) => fake(n, n === "sched_debug" ? undefined : `${n} says no`),
      log2,
    );
    expect(lines2).toEqual([
      {
        level: "warn",
        msg: "task_scan unavailable: task_scan says no; queue_track unavailable: queue_track says no; using sched_debug",
      },
    ]);
  });

  test("none can start: every reason, and no warning about a next one", () => {
    const { log, lines } = recordingLogger();
    let err: unknown;
    try {
      start(["queue_track"], (n) => fake(n, "bpf_object__load: EPERM"), log);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NoBackend);
    expect((err as Error).message).toBe("queue_track unavailable: bpf_object__load: EPERM");
    expect(lines).toEqual([]);
  });

  test("a bug (not BackendUnavailable) is not hidden by a fallback", () => {
    const { log } = recordingLogger();
    expect(() => start(["a", "b"], (n) => fake(n, n === "a" ? new TypeError("boom") : undefined), log)).toThrow(
      TypeError,
    );
  });
});

describe("task_scan feature check", () => {
  test("names the missing kernel option", () => {
    expect(missingScanFeatures(0)).toContain("CONFIG_SCHED_INFO");
    expect(missingScanFeatures(SCAN_HAS.rq)).toContain("CONFIG_SCHED_INFO");
    expect(missingScanFeatures(SCAN_HAS.queued)).toContain("CONFIG_FAIR_GROUP_SCHED");
    expect(missingScanFeatures(SCAN_HAS.queued | SCAN_HAS.rq)).toBeNull();
  });
});

describe("condenseFailure: a BPF load failure in one line", () => {
  test("a bad BTF: the call, its errno and libbpf's first complaint", () => {
    expect(
      condenseFailure("bpf_object__load: LIBBPF_ERRNO__FORMAT", [
        "libbpf: failed to get EHDR from /tmp/bad.btf\n",
        "libbpf: failed to parse target BTF: -4001\n",
        "libbpf: failed to load object 'x'\n",
      ]),
    ).toBe("bpf_object__load: LIBBPF_ERRNO__FORMAT: failed to get EHDR from /tmp/bad.btf");
  });

  test("a verifier rejection: libbpf's line and the verifier's last word", () => {
    const log =
      "libbpf: prog 'stalld_scan': -- BEGIN PROG LOAD LOG --\n0: R1=ctx() R10=fp0\n; p = ctx->task\n1: (79) r2 = *(u64 *)(r1 +8)\n2: (61) r3 = *(u32 *)(r2 +1234)\nR2 invalid mem access 'ptr_or_null_'\nprocessed 3 insns (limit 1000000)\n-- END PROG LOAD LOG --\n";
    expect(
      condenseFailure("bpf_object__load: EACCES", [
        "libbpf: prog 'stalld_scan': BPF program load failed: Permission denied\n",
        log,
        "libbpf: failed to load object 'x'\n",
      ]),
    ).toBe(
      "bpf_object__load: EACCES: prog 'stalld_scan': BPF program load failed: Permission denied: verifier: R2 invalid mem access 'ptr_or_null_'",
    );
  });

  test("no libbpf words: the error alone; a very long one is cut", () => {
    expect(condenseFailure("bpf_object__open_mem: ENOMEM", [])).toBe("bpf_object__open_mem: ENOMEM");
    expect(condenseFailure("e", ["x".repeat(500)])).toHaveLength(300);
  });
});
