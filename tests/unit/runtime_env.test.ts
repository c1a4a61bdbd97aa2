import { describe, expect, test } from "bun:test";
import { missingRuntimeEnv, RUNTIME_ENV } from "../../src/daemon/runtime_env";

describe("the runtime settings run starts itself again with", () => {
  test("all of them when none is set; none once all are (so it execs once); a value the user set is kept", () => {
    expect(missingRuntimeEnv({})).toEqual({ ...RUNTIME_ENV });
    expect(missingRuntimeEnv({ ...RUNTIME_ENV })).toEqual({});
    const user = { BUN_GC_TIMER_DISABLE: "0", BUN_JSC_useConcurrentJIT: "1" };
    const missing = missingRuntimeEnv(user);
    expect(missing).toEqual({ BUN_JSC_numberOfGCMarkers: "1", BUN_JSC_useConcurrentGC: "0" });
  });

  test("no helper thread the main thread waits for: one GC marker, no concurrent GC or JIT; the idle GC timer off", () => {
    expect(RUNTIME_ENV).toEqual({
      BUN_GC_TIMER_DISABLE: "1",
      BUN_JSC_numberOfGCMarkers: "1",
      BUN_JSC_useConcurrentGC: "0",
      BUN_JSC_useConcurrentJIT: "0",
    });
  });
});
