// --log-format json: consola's log objects become one JSON object per line,
// the event's fields from the object, the backend from the context.
import { afterEach, describe, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { consoleSink, currentSinks, log, setLogContext, setSinks } from "../../src/log/logger";

const saved = currentSinks().slice();
const dir = mkdtempSync(join(tmpdir(), "stalld-json-"));
afterEach(() => setSinks([...saved]));

describe("JSON log lines", () => {
  test("fields, level, time, event (log for plain lines), the backend; one object per line", () => {
    const path = join(dir, "out");
    const fd = openSync(path, "w");
    try {
      setSinks([consoleSink(fd, false, "json")]);
      setLogContext({ backend: "task_scan" });
      log.info({
        message: "boosted pid 7 (v) (cpu 1) using SCHED_DEADLINE: ...",
        event: "boosted",
        pid: 7,
        tgid: 7,
        comm: "v",
        cpu: 1,
        waited_ns: 3_000_000_000,
        policy_before: "SCHED_FIFO",
        policy_after: "SCHED_DEADLINE",
      });
      log.warn("a plain line\nwith a newline");
    } finally {
      closeSync(fd);
    }
    const text = readFileSync(path, "utf8");
    rmSync(dir, { recursive: true, force: true });
    const lines = text
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toEqual({
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      level: "info",
      event: "boosted",
      message: "boosted pid 7 (v) (cpu 1) using SCHED_DEADLINE: ...",
      pid: 7,
      tgid: 7,
      comm: "v",
      cpu: 1,
      waited_ns: 3e9,
      policy_before: "SCHED_FIFO",
      policy_after: "SCHED_DEADLINE",
      backend: "task_scan",
    });
    expect(lines[1]).toMatchObject({
      level: "warn",
      event: "log",
      message: "a plain line\\x0awith a newline",
      backend: "task_scan",
    });
  });

  test("under journald the priority prefix stays in front of the JSON", () => {
    const path = join(mkdtempSync(join(tmpdir(), "stalld-json-")), "out");
    const fd = openSync(path, "w");
    try {
      setSinks([consoleSink(fd, true, "json")]);
      log.error({ message: "x", event: "boost_failed", errno: "EPERM" });
    } finally {
      closeSync(fd);
    }
    const text = readFileSync(path, "utf8");
    rmSync(join(path, ".."), { recursive: true, force: true });
    expect(text.startsWith("<3>{")).toBe(true);
    expect(JSON.parse(text.slice(3))).toMatchObject({ level: "error", event: "boost_failed", errno: "EPERM" });
  });
});
