// Reads the CPU profiles a lab guest dumped (LAB_CPUPROF=1: "@@PROF <run> <base64 of gzip>" lines) and
// prints, per run, the functions that took the most CPU: over the whole run and over its busiest
// ten-second window (where a stall of stalld's main thread shows).
//
//   bun lab/prof.ts build/lab/6.1-rt.console [top]
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

const [path, topArg] = process.argv.slice(2);
if (!path) {
  console.error("usage: bun lab/prof.ts <console> [top]");
  process.exit(2);
}
const top = Number(topArg ?? 25);
const runs = new Map<string, string[]>();
for (const line of readFileSync(path, "latin1").split("\n")) {
  const m = /@@PROF (\S+) (\S+)/.exec(line);
  if (!m) continue;
  const [, run, chunk] = m as unknown as [string, string, string];
  if (!runs.has(run)) runs.set(run, []);
  runs.get(run)!.push(chunk);
}

function name(n: ProfileNode): string {
  const f = n.callFrame;
  const file = f.url.split("/").pop() ?? "";
  return `${f.functionName || "(anonymous)"} ${file}:${f.lineNumber + 1}`;
}

/** Self time per function name over the samples in [from, to) (µs since the profile's start). */
function selfTime(p: Profile, from: number, to: number): Map<string, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const out = new Map<string, number>();
  let t = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    t += dt;
    if (t < from || t >= to) continue;
    const node = byId.get(p.samples[i]!);
    if (!node) continue;
    const k = name(node);
    // Counted, not timed: a sampler that only samples a running thread leaves gaps that are not its time.
    out.set(k, (out.get(k) ?? 0) + 1);
  }
  return out;
}

function print(title: string, m: Map<string, number>): void {
  const total = [...m.values()].reduce((a, b) => a + b, 0);
  console.log(`  ${title}: ${total} samples`);
  for (const [k, us] of [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`    ${String(us).padStart(6)}  ${((100 * us) / (total || 1)).toFixed(1).padStart(5)} %  ${k}`);
}

for (const [run, chunks] of runs) {
  const p = JSON.parse(gunzipSync(Buffer.from(chunks.join(""), "base64")).toString("utf8")) as Profile;
  const times: number[] = [];
  let t = 0;
  for (const dt of p.timeDeltas) times.push((t += dt));
  const idle = new Set(
    p.nodes.filter((n) => ["(idle)", "(program)"].includes(n.callFrame.functionName)).map((n) => n.id),
  );
  // The busiest 10 s: most non-idle samples.
  let best = 0;
  let bestFrom = 0;
  for (let i = 0, j = 0, busy = 0; i < times.length; i++) {
    if (!idle.has(p.samples[i]!)) busy++;
    while (times[i]! - times[j]! > 10e6) {
      if (!idle.has(p.samples[j]!)) busy--;
      j++;
    }
    if (busy > best) {
      best = busy;
      bestFrom = times[j]!;
    }
  }
  console.log(`${run}: ${p.samples.length} samples over ${((times.at(-1) ?? 0) / 1e6).toFixed(1)} s`);
  print("whole run", selfTime(p, 0, Number.POSITIVE_INFINITY));
  print(`busiest 10 s (from ${(bestFrom / 1e6).toFixed(1)} s)`, selfTime(p, bestFrom, bestFrom + 10e6));
}
