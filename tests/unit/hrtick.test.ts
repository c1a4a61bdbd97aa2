// HRTICK_DL with a fake kernel and a fake state directory: turned on only when
// a runtime below the tick needs it, written down before, off again at exit;
// one a stalld that died left on is taken over and turned off.
import { describe, expect, test } from "bun:test";
import { HrtickDl } from "../../src/boost/hrtick";
import type { FeatureState } from "../../src/kernel/sched_features";
import { recordingLogger } from "../helpers/fakes";

function setup(opts: { on?: boolean; writable?: boolean; orphan?: boolean } = {}) {
  const events: string[] = [];
  let on = opts.on ?? false;
  const kernel = {
    readFeature: (): FeatureState => ({ state: on ? "on" : "off", source: "fake", detail: "" }),
    setFeature: (_name: string, value: boolean) => {
      if (opts.writable === false) throw new Error("EPERM");
      on = value;
      events.push(`HRTICK_DL ${value ? "on" : "off"}`);
    },
    tickNs: () => 4_000_000,
  };
  let orphan = opts.orphan ?? false;
  const records = {
    recordSetting: (n: string) => void events.push(`record ${n}`),
    forgetSetting: (n: string) => {
      orphan = false;
      events.push(`forget ${n}`);
    },
    orphanSetting: () => (orphan ? { owner: { pid: 4242, starttime: 1 } } : null),
  };
  const { log, lines } = recordingLogger();
  return { h: new HrtickDl(log, kernel, records), events, lines, isOn: () => on };
}

describe("HRTICK_DL", () => {
  test("turned on for a runtime below the tick, recorded first; off again and forgotten at exit", () => {
    const { h, events, isOn } = setup();
    expect(h.prepare(20_000n)).toBe(20_000n);
    expect(events).toEqual(["record hrtick_dl", "HRTICK_DL on"]);
    h.restore();
    h.restore();
    expect(events.slice(2)).toEqual(["HRTICK_DL off", "forget hrtick_dl"]);
    expect(isOn()).toBe(false);
  });

  test("a runtime of a tick or more, or HRTICK_DL on already: nothing changes, nothing to undo", () => {
    for (const [on, runtime] of [
      [false, 4_000_000n],
      [true, 20_000n],
    ] as const) {
      const { h, events } = setup({ on });
      expect(h.prepare(runtime)).toBe(runtime);
      h.restore();
      expect(events).toEqual([]);
    }
  });

  test("not writable (lockdown): one warning, a one-tick runtime, the record taken back", () => {
    const { h, events, lines } = setup({ writable: false });
    expect(h.prepare(20_000n)).toBe(4_000_000n);
    expect(events).toEqual(["record hrtick_dl", "forget hrtick_dl"]);
    expect(lines.filter((l) => l.level === "warn")).toHaveLength(1);
  });

  test("left on by a stalld that died: taken over and turned off at exit; left off already: forgotten", () => {
    const dead = setup({ on: true, orphan: true });
    dead.h.adoptOrphan();
    expect(dead.lines.at(-1)!.msg).toBe(
      "HRTICK_DL was turned on by stalld pid 4242, which died; turned off again at exit",
    );
    dead.h.restore();
    expect(dead.isOn()).toBe(false);
    expect(dead.events).toEqual(["record hrtick_dl", "HRTICK_DL off", "forget hrtick_dl"]);
    const gone = setup({ orphan: true });
    gone.h.adoptOrphan();
    gone.h.restore();
    expect(gone.events).toEqual(["forget hrtick_dl"]);
  });
});
