// RT throttling. While it is on, DEADLINE admission control refuses to boost a
// task pinned to a subset of its root domain (EPERM): stalld turns it off and
// puts the saved value back on exit.
import { readFileSync, writeFileSync } from "node:fs";
import { ProcFile } from "../kernel/proc_file";
import type { Logger } from "../log/logger";
import type { StateDir } from "./state_dir";

type ThrottlingRecords = Pick<StateDir, "recordThrottling" | "forgetThrottling" | "orphanThrottling">;

export const RT_RUNTIME_PATH = "/proc/sys/kernel/sched_rt_runtime_us";

export class RtThrottling {
  private saved: number | null = null;

  /** Read on every pass (is idle time trustworthy?): one open fd. */
  private readonly file: ProcFile;

  /** `records`: where the value to restore is also kept (the state directory), so a restart after a crash has it. */
  constructor(
    private readonly log: Logger,
    private readonly path = RT_RUNTIME_PATH,
    private readonly records: ThrottlingRecords | null = null,
    private readonly clock: ThrottlingClock = realThrottlingClock,
  ) {
    this.file = new ProcFile(path);
  }

  read(): number {
    return Number(this.file.read().trim());
  }

  write(value: number): void {
    writeFileSync(this.path, `${value}\n`);
  }

  /**
   * Turns throttling off; remembers the old value for restore(), on disk too.
   * Off already because a stalld died before restoring it: that one's value is
   * the one to restore.
   */
  disable(): void {
    const old = this.read();
    const orphan = this.records?.orphanThrottling() ?? null;
    if (old === -1 && orphan) {
      this.records!.recordThrottling(orphan.runtimeUs);
      this.saved = orphan.runtimeUs;
      this.log.info(
        `RT throttling was left off by stalld pid ${orphan.owner.pid}, which died; ` +
          `sched_rt_runtime_us will be restored to ${orphan.runtimeUs} at exit`,
      );
      return;
    }
    if (old === -1) {
      this.records?.forgetThrottling();
      this.log.info("RT throttling already disabled, doing nothing");
      return;
    }
    this.records?.recordThrottling(old);
    this.write(-1);
    this.saved = old;
    this.log.info(`RT Throttling disabled (sched_rt_runtime_us was ${old})`);
  }

  /**
   * Idempotent; safe on every exit path. EBUSY means DEADLINE bandwidth the
   * kernel still accounts exceeds the new RT limit: a task that just left
   * SCHED_DEADLINE (a boost, stalld's own reservation) keeps its bandwidth
   * until its 0-lag time, so the write is tried again for a bounded time.
   * Left off, the state record stays and the next start puts it back.
   */
  restore(): void {
    if (this.saved === null) return;
    const value = this.saved;
    this.saved = null;
    const until = this.clock.now() + RESTORE_RETRY_MS;
    let retried = false;
    for (;;) {
      try {
        this.write(value);
        this.records?.forgetThrottling();
        this.log.info(
          `RT Throttling runtime restored to ${value}${retried ? " (once DEADLINE bandwidth was released)" : ""}`,
        );
        return;
      } catch (e) {
        const busy = (e as NodeJS.ErrnoException).code === "EBUSY";
        if (busy && this.clock.now() < until) {
          if (!retried) {
            this.log.info(
              "sched_rt_runtime_us: EBUSY (DEADLINE bandwidth not yet released); " +
                `trying again for up to ${RESTORE_RETRY_MS / 1000} s`,
            );
          }
          retried = true;
          this.clock.sleep(RESTORE_RETRY_STEP_MS);
          continue;
        }
        const bw = busy ? this.clock.dlBandwidth() : "";
        this.log.error(
          `failed to restore sched_rt_runtime_us to ${value}: ${(e as Error).message}${bw ? ` (${bw})` : ""}` +
            "; the next stalld start puts it back",
        );
        return;
      }
    }
  }
}

/** Bounded: a boost's bandwidth is released within about one boost period of its end. */
export const RESTORE_RETRY_MS = 3000;
const RESTORE_RETRY_STEP_MS = 50;

export interface ThrottlingClock {
  now(): number;
  sleep(ms: number): void;
  /** What the kernel accounts, for the error line ("" when unreadable). */
  dlBandwidth(): string;
}

export const realThrottlingClock: ThrottlingClock = {
  now: () => performance.now(),
  sleep: (ms) => Bun.sleepSync(ms),
  dlBandwidth: () => {
    try {
      const text = readFileSync("/sys/kernel/debug/sched/debug", "utf8");
      const per = [...text.matchAll(/dl_bw->total_bw\s*:\s*(-?\d+)/g)].map((m) => m[1]);
      return per.length ? `dl_bw->total_bw per CPU: ${per.join(",")}` : "";
    } catch {
      return "";
    }
  },
};
