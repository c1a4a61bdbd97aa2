// Real threads with hostile names (set with prctl by tests/helpers/namer.c) on
// the CPU a real busy loop owns, read through the sched_debug backend, which
// prints names raw: nothing forged is boosted, nothing real is hidden, and
// every log line is printable. Before the byte-column parser, two sleeping
// threads named "\n>Rx 1 1.1 2 0" and "\n Rk 2 1.1 2 0" made the daemon boost
// kthreadd again after every restore.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { guardRtFile } from "../helpers/guard";
import { kill, type Load, ROOT, spawnUntilLine, startDaemon, startLoad, VICTIM_CPU, withRtLock } from "../helpers/rt";

guardRtFile();

const NAMER = join(ROOT, "build/namer");
const hex = (s: string) => Buffer.from(s, "utf8").subarray(0, 15).toString("hex");

/** Sleeping forgers: each name tries to end its row and start another, or end a table or a section. */
const SLEEPERS = ["\n>Rx 1 1.1 2 0", "\n Rk 2 1.1 2 0", "\n\n", "\n\ncpu#0,", "\n\ncpu#1,", "\n R init 1"];
/** A forger that really starves behind the loop, so its name reaches the log: a title, a bell, a new line. */
const SPINNER = "\x1b]0;pwn\x07\n>R";

async function namer(mode: "sleep" | "spin", names: string[], seconds: number) {
  const argv = ["taskset", "-c", "0", NAMER, String(VICTIM_CPU), String(seconds), mode, ...names.map(hex)];
  const { proc, text } = await spawnUntilLine(argv, "namer");
  return { proc: proc as Load["proc"], pid: proc.pid, tids: text.trim().split(" ").slice(1).map(Number) };
}

describe("hostile task names on the sched_debug backend", () => {
  test("only the real victims are boosted; pids 1 and 2 never; every line printable; no section unreadable", async () => {
    await withRtLock(async () => {
      const procs: Load[] = [];
      const d = startDaemon(["run", "-c", "1", "-t", "2", "-d", "1", "-b", "sched_debug", "-v"]);
      try {
        await d.waitFor(/monitoring CPUs 1 with backend sched_debug/, 10_000);
        const sleepers = await namer("sleep", SLEEPERS, 14);
        procs.push(sleepers);
        const hog = await startLoad("fifo", 10, 12);
        procs.push(hog);
        await Bun.sleep(100);
        const spinner = await namer("spin", [SPINNER], 12);
        procs.push(spinner);
        const victim = await startLoad("fifo", 1, 12);
        procs.push(victim);
        const boosted = (pid: number) => new RegExp(`boosted pid ${pid} \\(`);
        await d.waitFor(boosted(victim.pid), 10_000);
        await d.waitFor(boosted(spinner.tids[0]!), 10_000);
        // A few more passes with the forged rows in every read.
        await Bun.sleep(3000);
        const pids = d.lines.flatMap((l) => [...l.matchAll(/boosted pid (\d+) /g)].map((m) => Number(m[1])));
        expect(new Set(pids)).toEqual(new Set([victim.pid, spinner.tids[0]!]));
        for (const tid of sleepers.tids) expect(d.lines.some((l) => l.includes(`pid ${tid} `))).toBe(false);
        // The spinner's name, escaped, in its boost line.
        expect(d.lines.some((l) => l.includes("(\\x1b]0;pwn\\x07\\x0a>R)"))).toBe(true);
        for (const l of d.lines) expect(/[\x00-\x08\x0a-\x1f\x7f-\x9f]/.test(l)).toBe(false);
        expect(d.lines.some((l) => l.includes("not judged this pass"))).toBe(false);
      } finally {
        // The busy loop first: the others need the CPU to die.
        await kill(...procs.slice(1), procs[0]);
        await d.stop();
        await kill(d);
      }
    });
  }, 60_000);
});
