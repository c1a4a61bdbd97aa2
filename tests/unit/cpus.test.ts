import { describe, expect, test } from "bun:test";
import { CpuListError, formatCpuList, parseCpuList } from "../../src/kernel/cpus";

describe("parseCpuList", () => {
  test("single cpus, ranges and mixes, sorted and deduplicated", () => {
    expect(parseCpuList("3", 8)).toEqual([3]);
    expect(parseCpuList("2-7", 8)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(parseCpuList("2-4,9,1", 16)).toEqual([1, 2, 3, 4, 9]);
    expect(parseCpuList("1,1-2,2", 4)).toEqual([1, 2]);
    expect(parseCpuList(" 0-1\n", 2)).toEqual([0, 1]);
  });

  test.each([
    ["", /empty/],
    ["a", /bad element "a"/],
    ["1-", /bad element "1-"/],
    ["-1", /bad element "-1"/],
    ["1,,2", /bad element ""/],
    ["3-1", /goes backwards/],
    ["0-8", /cpu 8 does not exist \(this machine has cpus 0-7\)/],
    ["1.5", /bad element/],
  ])("rejects %p", (text, message) => {
    expect(() => parseCpuList(text, 8)).toThrow(CpuListError);
    expect(() => parseCpuList(text, 8)).toThrow(message);
  });
});

describe("formatCpuList", () => {
  test("compacts runs", () => {
    expect(formatCpuList([1])).toBe("1");
    expect(formatCpuList([0, 1, 2, 5, 7, 8])).toBe("0-2,5,7-8");
    expect(formatCpuList([])).toBe("");
  });

  test("round-trips with the parser", () => {
    for (const text of ["0", "0-3", "1,3,5-9,12"]) expect(formatCpuList(parseCpuList(text, 16))).toBe(text);
  });
});
