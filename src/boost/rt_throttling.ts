// RT throttling. While it is on, DEADLINE admission control refuses to boost a
// task pinned to a subset of its root domain (EPERM): stalld turns it off and
// puts the saved value back on exit.
import { writeFileSync } from "node:fs";
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

  /** Idempotent; safe on every exit path. */
  restore(): void {
    if (this.saved === null) return;
    const value = this.saved;
    this.saved = null;
    try {
      this.write(value);
      this.records?.forgetThrottling();
      this.log.info(`RT Throttling runtime restored to ${value}`);
    } catch (e) {
      this.log.error(`failed to restore sched_rt_runtime_us to ${value}: ${(e as Error).message}`);
    }
  }
}
