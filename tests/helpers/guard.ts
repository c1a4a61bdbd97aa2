// Shared set-up of the integration files that load CPU 1.
import { afterAll, beforeAll, expect } from "bun:test";
import { pinSelfToCpu0, requireRoot, rtRuntime } from "./rt";

/**
 * Needs root, keeps the runner's threads on CPU 0, and checks at the end that
 * RT throttling is what it was, whatever happened in between.
 */
export function guardRtFile(): void {
  let rtAtStart = 0;
  beforeAll(() => {
    requireRoot();
    pinSelfToCpu0();
    rtAtStart = rtRuntime();
  });
  afterAll(() => expect(rtRuntime()).toBe(rtAtStart));
}
