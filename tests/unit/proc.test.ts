import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseTaskStat, readTaskStat } from "../../src/kernel/proc";
import { ProcFile } from "../../src/kernel/proc_file";

// 52 fields as the 6.x kernel prints them; comm is field 2.
function statLine(pid: number, comm: string, state = "R", over: Record<number, number> = {}): string {
  const fields: (string | number)[] = [];
  for (let n = 3; n <= 52; n++) fields.push(over[n] ?? n * 10);
  fields[0] = state;
  return `${pid} (${comm}) ${fields.join(" ")}\n`;
}

describe("parseTaskStat", () => {
  test("reads state, cpu, starttime, nice, policy and priority by field number", () => {
    // Field 18 is the kernel's prio - 100: -11 for FIFO 10 (prio 89).
    const st = parseTaskStat(
      statLine(42, "kworker/1:2", "R", { 9: 0x00200040, 18: -11, 19: -5, 22: 12345, 39: 1, 40: 10, 41: 1 }),
    )!;
    expect(st).toEqual({
      pid: 42,
      comm: "kworker/1:2",
      rawComm: "kworker/1:2",
      flags: 0x00200040,
      state: "R",
      nice: -5,
      starttime: 12345,
      cpu: 1,
      rtPriority: 10,
      policy: 1,
      prio: 89,
    });
  });

  test("comm with spaces and parentheses does not shift fields", () => {
    const st = parseTaskStat(statLine(7, "a) (b c) S 9", "S", { 39: 3 }))!;
    expect(st.comm).toBe("a) (b c) S 9");
    expect(st.state).toBe("S");
    expect(st.cpu).toBe(3);
  });

  test("this process's prio as the kernel has it: fair at nice 0 is 120", () => {
    expect(readTaskStat(process.pid)!.prio).toBe(120 + readTaskStat(process.pid)!.nice);
  });

  test("truncated or garbage input gives null, not a wrong answer", () => {
    expect(parseTaskStat("")).toBeNull();
    expect(parseTaskStat("12 (x) R 1 2 3")).toBeNull();
    expect(parseTaskStat("no parens at all")).toBeNull();
    expect(parseTaskStat(statLine(5, "x").replace(" 220 ", " abc "))).toBeNull();
  });

  test("reads this process from /proc", () => {
    const st = readTaskStat(process.pid)!;
    expect(st.pid).toBe(process.pid);
    expect(st.state).toBe("R");
    expect(readTaskStat(2 ** 22 + 1)).toBeNull();
  });
});

describe("ProcFile", () => {
  test("reads the current text on every call through one fd, whatever its length", () => {
    const dir = mkdtempSync(join(tmpdir(), "stalld-procfile-"));
    try {
      const path = join(dir, "f");
      writeFileSync(path, "short\n");
      const f = new ProcFile(path);
      expect(f.read()).toBe("short\n");
      const long = `${"x".repeat(10_000)}\n`; // more than the first buffer
      writeFileSync(path, long);
      expect(f.read()).toBe(long);
      writeFileSync(path, "-1\n");
      expect(f.read()).toBe("-1\n");
      // A seq_file regenerates at offset 0: /proc/self/stat's utime/stime and the like move on.
      const stat = new ProcFile("/proc/self/stat");
      expect(stat.read().split(" ")[0]).toBe(String(process.pid));
      expect(new ProcFile("/proc/stat").read()).toStartWith(readFileSync("/proc/stat", "latin1").slice(0, 4));
      f.close();
      stat.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a missing file throws, and the next read tries to open it again", () => {
    const f = new ProcFile(`/proc/no-such-file-${process.pid}`);
    expect(() => f.read()).toThrow(/ENOENT/);
    expect(() => f.read()).toThrow(/ENOENT/);
  });
});
