// What the daemon changes on the system before its first pass, and the undo of
// each change: debugfs, RT throttling, HRTICK_DL, stalld's own scheduling. It
// also decides how boosts are made (DEADLINE, FIFO or not at all).
import type { BoostMethod } from "../boost/booster";
import { HrtickDl } from "../boost/hrtick";
import { RtThrottling } from "../boost/rt_throttling";
import { kernelSchedOps, type SchedOps } from "../boost/sched_attr";
import { applyAggressive, applyReservation, probeBoostMethod } from "../boost/self_sched";
import { EXIT, Exit } from "../cli/exit";
import type { RunConfig } from "../cli/options";
import { dlServerPresent } from "../kernel/dl_server";
import { ensureMounted, unmount } from "../kernel/mounts";
import type { Logger } from "../log/logger";

export interface BoostPlan {
  /** null: log-only, by choice or because nothing can be set. */
  method: BoostMethod | null;
  runtimeNs: bigint;
}

export class SystemSetup {
  private mountedDebugfs = false;
  readonly throttling: RtThrottling;
  private readonly hrtick: HrtickDl;

  constructor(
    private readonly cfg: RunConfig,
    private readonly log: Logger,
    private readonly ops: SchedOps = kernelSchedOps,
  ) {
    this.throttling = new RtThrottling(log);
    this.hrtick = new HrtickDl(log);
  }

  /** Read-only checks that must fail before anything changes. */
  precheck(): void {
    if (this.cfg.systemd && !this.cfg.logOnly) {
      const v = this.throttling.read();
      if (v !== -1)
        throw new Exit(
          EXIT.environment,
          `RT throttling is on (sched_rt_runtime_us = ${v}) and --systemd leaves it to the unit: turn it off before starting stalld (\`stalld throttle off\`)`,
        );
    }
  }

  apply(): BoostPlan {
    const c = this.cfg;
    this.noteDlServer();
    if (c.logOnly) {
      this.log.info("log-only mode: starving tasks are logged, nothing is boosted");
      return { method: null, runtimeNs: c.boostRuntimeNs };
    }
    if (c.systemd) this.log.info("RT throttling is left to systemd (--systemd): it is off");
    else this.throttling.disable();

    const method = probeBoostMethod(this.ops, c.forceFifo, this.log);
    let runtimeNs = c.boostRuntimeNs;
    if (method === "deadline") runtimeNs = this.hrtick.prepare(c.boostRuntimeNs);
    if (c.reservationPct !== null) {
      try {
        applyReservation(this.ops, c.reservationPct, this.log);
      } catch (e) {
        throw new Exit(
          EXIT.environment,
          `-R/--reservation: cannot give stalld a SCHED_DEADLINE reservation of ${c.reservationPct} %: ${(e as Error).message}`,
        );
      }
    }
    if (c.mode === "aggressive") {
      try {
        applyAggressive(this.ops, this.log);
      } catch (e) {
        this.log.warn(
          `aggressive mode: stalld could not make itself SCHED_FIFO (${(e as Error).message}); it runs with its default policy`,
        );
      }
    }
    if (method === null) this.log.warn("log-only mode: no boost policy can be set on this system");
    return { method, runtimeNs };
  }

  private noteDlServer(): void {
    // Log-only changes nothing on the system, mounts included.
    if (!this.cfg.logOnly) {
      try {
        this.mountedDebugfs = ensureMounted("debugfs");
        if (this.mountedDebugfs)
          this.log.info("mounted debugfs on /sys/kernel/debug to read the DL-server and HRTICK state");
      } catch (e) {
        this.log.debug(`debugfs is not mounted and could not be: ${(e as Error).message}`);
      }
    }
    if (dlServerPresent()) this.log.info("DL-server detected.");
  }

  /** Idempotent; every step is attempted even when one fails. */
  undo(): void {
    this.throttling.restore();
    this.hrtick.restore();
    if (this.mountedDebugfs) {
      this.mountedDebugfs = false;
      try {
        unmount("debugfs");
        this.log.info("unmounted debugfs from /sys/kernel/debug");
      } catch (e) {
        this.log.info(`left debugfs mounted on /sys/kernel/debug: ${(e as Error).message}`);
      }
    }
  }
}
