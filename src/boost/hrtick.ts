// HRTICK_DL. Without it a SCHED_DEADLINE runtime shorter than the tick is
// only enforced at the next tick: a 20 us boost runs ~4 ms, and the CBS
// charges the overrun to later periods (overrun / runtime of them), so a second
// boost of the same task within that window gives it no CPU at all. stalld
// turns HRTICK_DL on where it can (and back off at exit); where it cannot, it
// boosts with a one-tick runtime, which is what the task really gets anyway
// and leaves at most one period of debt.
import { btfEnumValueInChild, FEATURE_PATHS, readFeature, setFeature, tickNs } from "../kernel/sched_features";
import type { Logger } from "../log/logger";
import type { StateDir } from "./state_dir";

type SettingRecords = Pick<StateDir, "recordSetting" | "forgetSetting" | "orphanSetting">;

const readFeatureViaChild = (name: string) => readFeature(name, FEATURE_PATHS, btfEnumValueInChild);

export class HrtickDl {
  private enabledByUs = false;

  /** `records`: the state directory, where turning HRTICK_DL on is written first (a restart turns it off). */
  constructor(
    private readonly log: Logger,
    private readonly kernel = { readFeature: readFeatureViaChild, setFeature, tickNs },
    private readonly records: SettingRecords | null = null,
  ) {}

  /** HRTICK_DL left on by a stalld that died: this one turns it off at exit. */
  adoptOrphan(): void {
    const orphan = this.records?.orphanSetting("hrtick_dl");
    if (!orphan) return;
    if (this.kernel.readFeature("HRTICK_DL").state !== "on") {
      this.records!.forgetSetting("hrtick_dl");
      return;
    }
    this.records!.recordSetting("hrtick_dl");
    this.enabledByUs = true;
    this.log.info(`HRTICK_DL was turned on by stalld pid ${orphan.owner.pid}, which died; turned off again at exit`);
  }

  /** The runtime boosts should use for a requested one. */
  prepare(runtimeNs: bigint): bigint {
    const tick = BigInt(this.kernel.tickNs());
    if (runtimeNs >= tick) return runtimeNs;
    const st = this.kernel.readFeature("HRTICK_DL");
    if (st.state === "on") {
      this.log.info(`HRTICK_DL is on (${st.source}): a ${runtimeNs} ns boost runtime is enforced precisely`);
      return runtimeNs;
    }
    let why: string;
    try {
      this.records?.recordSetting("hrtick_dl");
      this.kernel.setFeature("HRTICK_DL", true);
      this.enabledByUs = true;
      this.log.info(
        `HRTICK_DL enabled so that a ${runtimeNs} ns boost runtime is enforced precisely (turned off again at exit)`,
      );
      return runtimeNs;
    } catch (e) {
      why = (e as Error).message;
      if (!this.enabledByUs) this.records?.forgetSetting("hrtick_dl");
    }
    const state = st.state === "off" ? `off (${st.source})` : `unknown (${st.detail})`;
    const debtPeriods = (tick + runtimeNs - 1n) / runtimeNs;
    this.log.warn(
      `HRTICK_DL is ${state} and cannot be turned on (${why}): ` +
        `a ${runtimeNs} ns runtime would run until the next tick (${tick} ns) ` +
        `and leave ~${debtPeriods} periods of debt that block a re-boost; ` +
        `boosting with a one-tick runtime of ${tick} ns instead`,
    );
    return tick;
  }

  /** Idempotent. */
  restore(): void {
    if (!this.enabledByUs) return;
    this.enabledByUs = false;
    try {
      this.kernel.setFeature("HRTICK_DL", false);
      this.records?.forgetSetting("hrtick_dl");
      this.log.info("HRTICK_DL restored to off");
    } catch (e) {
      this.log.error(`failed to turn HRTICK_DL back off: ${(e as Error).message}`);
    }
  }
}
