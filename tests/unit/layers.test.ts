// Imports point down only: each folder of src/ may import the folders below
// it (docs/DESIGN.md draws the same picture), never one above or beside it
// unless listed. A change that makes a lower layer reach up fails here.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";

const SRC = join(import.meta.dir, "../../src");

/** Each layer and what it may import (besides itself). */
const MAY_IMPORT: Record<string, string[]> = {
  base: [], // config.ts, errors.ts, self.ts: facts every layer may use
  ffi: ["base"],
  log: ["base", "ffi"],
  systemd: ["base", "ffi"],
  bpf: ["base", "ffi", "log"],
  kernel: ["base", "ffi", "log", "bpf"],
  backends: ["base", "ffi", "log", "bpf", "kernel"],
  boost: ["base", "ffi", "log", "kernel"],
  metrics: ["base", "kernel", "boost"],
  daemon: ["base", "ffi", "log", "systemd", "bpf", "kernel", "backends", "boost", "metrics"],
  doctor: ["base", "ffi", "log", "bpf", "kernel", "backends", "boost"],
  top: ["base", "kernel", "log"],
  cli: ["base", "ffi", "log", "systemd", "bpf", "kernel", "backends", "boost", "metrics", "daemon", "doctor", "top"],
  main: ["base", "cli", "kernel"],
};

function layerOf(file: string): string {
  const rel = relative(SRC, file);
  if (!rel.includes("/")) return rel === "main.ts" ? "main" : "base";
  return rel.split("/")[0]!;
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith(".ts") ? [p] : [];
  });
}

describe("layers", () => {
  test("every import in src/ points down", () => {
    const wrong: string[] = [];
    for (const file of sources(SRC)) {
      const from = layerOf(file);
      expect(MAY_IMPORT[from]).toBeDefined();
      for (const m of readFileSync(file, "utf8").matchAll(/^(?:import|export)[^;]*? from "(\.[^"]+)";$/gm)) {
        const target = join(dirname(file), m[1]!);
        if (!target.startsWith(SRC)) continue; // package.json, build/*.bpf.o
        const to = layerOf(`${target}.ts`);
        if (to !== from && !MAY_IMPORT[from]!.includes(to))
          wrong.push(`${relative(SRC, file)} -> ${m[1]} (${from} -> ${to})`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
