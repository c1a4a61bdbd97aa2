import { describe, expect, test } from "bun:test";
import { parseTaskStat, readTaskStat } from "../../src/kernel/proc";

// 52 fields as the 6.x kernel prints them; comm is field 2.
function statLine(pid: number, comm: string, state = "R", over: Record<number, number> = {}): string {
  const fields: (string | number)[] = [];
  for (let n = 3; n <= 52; n++) fields.push(over[n] ?? n * 10);
  fields[0] = state;
  return `${pid} (${comm}) ${fields.join(" ")}\n`;
}

describe("parseTaskStat", () => {
  test("reads state, cpu, starttime, nice, policy and priority by field number", () => {
    const st = parseTaskStat(statLine(42, "kworker/1:2", "R", { 19: -5, 22: 12345, 39: 1, 40: 10, 41: 1 }))!;
    expect(st).toEqual({ pid: 42, comm: "kworker/1:2", state: "R", nice: -5, starttime: 12345, cpu: 1, rtPriority: 10, policy: 1 });
  });

  test("comm with spaces and parentheses does not shift fields", () => {
    const st = parseTaskStat(statLine(7, "a) (b c) S 9", "S", { 39: 3 }))!;
    expect(st.comm).toBe("a) (b c) S 9");
    expect(st.state).toBe("S");
    expect(st.cpu).toBe(3);
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
