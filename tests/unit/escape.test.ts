// A task's name reaches stalld's log lines and `stalld top`'s screen; any byte
// but NUL can be in it. Every control (C0, DEL, C1, U+2028/2029) must arrive
// as a visible escape in every text sink and in top, and JSON must stay valid
// JSON with the same value.
import { afterEach, describe, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatagramReceiver } from "../../src/ffi/unix_socket";
import { escapeControls } from "../../src/log/escape";
import { consoleSink, currentSinks, kmsgSink, log, setSinks, syslogSink } from "../../src/log/logger";
import { renderTop } from "../../src/top/render";

/** Every character a terminal could act on (TAB only moves along the line: left as it is). */
const CONTROLS = [
  ...Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(i)).filter((c) => c !== "\t"),
  ...Array.from({ length: 0x21 }, (_, i) => String.fromCharCode(0x7f + i)),
  "\u2028",
  "\u2029",
];
/** Nothing a terminal acts on: printable ASCII and UTF-8 text, one line. */
const printable = (s: string) => !/[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]/.test(s);

const saved = currentSinks().slice();
const dirs: string[] = [];
afterEach(() => {
  setSinks([...saved]);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const scratch = () => {
  const d = mkdtempSync(join(tmpdir(), "stalld-escape-"));
  dirs.push(d);
  return d;
};

describe("escapeControls", () => {
  test("each control becomes \\xNN (\\u2028, \\u2029); text, UTF-8 included, stays", () => {
    for (const c of CONTROLS) {
      const e = escapeControls(`a${c}b`);
      expect(printable(e)).toBe(true);
      const n = c.charCodeAt(0);
      expect(e).toBe(`a${n > 0xff ? `\\u${n.toString(16)}` : `\\x${n.toString(16).padStart(2, "0")}`}b`);
    }
    expect(escapeControls("kworker/1:2 Web Content ünïcödé 名前")).toBe("kworker/1:2 Web Content ünïcödé 名前");
  });
});

describe("every text sink writes a hostile name escaped", () => {
  const name = CONTROLS.join("");
  const line = `evil${name}-4242 starved on CPU 1 for 20 seconds`;

  test("the console (text and JSON), the kernel log and syslog", () => {
    const dir = scratch();
    const text = join(dir, "text");
    const json = join(dir, "json");
    const kmsg = join(dir, "kmsg");
    writeFileSync(kmsg, "");
    const rx = DatagramReceiver.bind(join(dir, "log"));
    const fdText = openSync(text, "w");
    const fdJson = openSync(json, "w");
    try {
      setSinks([consoleSink(fdText, false), consoleSink(fdJson, false, "json"), kmsgSink(kmsg), syslogSink(rx.path)]);
      log.info({ message: line, event: "starved", comm: `evil${name}` });
      log.warn(line);
      const textOut = readFileSync(text, "utf8").split("\n").slice(0, -1);
      expect(textOut).toHaveLength(2);
      for (const l of textOut) {
        expect(printable(l)).toBe(true);
        expect(l).toContain(escapeControls(line));
      }
      const kmsgOut = readFileSync(kmsg, "utf8").split("\n").slice(0, -1);
      expect(kmsgOut).toHaveLength(2);
      for (const l of kmsgOut) expect(printable(l)).toBe(true);
      for (let i = 0; i < 2; i++) {
        const d = rx.receive(1000)!;
        expect(printable(d)).toBe(true);
        expect(d).toContain(escapeControls(line));
      }
      const jsonOut = readFileSync(json, "utf8").split("\n").slice(0, -1);
      for (const l of jsonOut) expect(printable(l)).toBe(true);
      // Valid JSON, and the name's value is the name itself.
      expect(JSON.parse(jsonOut[0]!).comm).toBe(`evil${name}`);
    } finally {
      closeSync(fdText);
      closeSync(fdJson);
      rx.close();
    }
  });

  test("stalld top's screen", () => {
    const task = { pid: 7, comm: `x${name}`, policy: 1, prio: 98 };
    const lines = renderTop(
      {
        time: new Date(0),
        backend: "task_scan",
        thresholdS: 20,
        cpus: [{ cpu: 1, running: task, waiters: [{ ...task, waitedNs: 3e10 }], dlServer: "none" }],
        events: [`00:00:00 x${name}-7 starving on CPU 1`],
        boosts: [`x${name}-7 on CPU 1: SCHED_DEADLINE`],
      },
      1000,
    );
    for (const l of lines) expect(printable(l)).toBe(true);
    expect(lines.join("\n")).toContain("x\\x00\\x01\\x02");
  });
});

describe("rate limits key on the event, not on what a name makes of the text", () => {
  test("10,000 starving threads with 10,000 names on one CPU: 120 lines a minute; warnings 5", () => {
    const dir = scratch();
    const path = join(dir, "out");
    const fd = openSync(path, "w");
    try {
      setSinks([consoleSink(fd, false)]);
      for (let i = 0; i < 10_000; i++)
        log.info({ message: `name${"x".repeat(i % 50)}${i}-${i} starved on CPU 3`, event: "flood_test", cpu: 3 });
      for (let i = 0; i < 100; i++)
        log.warn({ message: `pid ${i} (w${"y".repeat(i)}) was changed`, event: "flood_warn_test", cpu: 3 });
      // Another CPU has its own budget.
      log.info({ message: "other-1 starved on CPU 4", event: "flood_test", cpu: 4 });
      const lines = readFileSync(path, "utf8").split("\n").slice(0, -1);
      expect(lines.filter((l) => l.includes("starved on CPU 3"))).toHaveLength(120);
      expect(lines.filter((l) => l.includes("was changed"))).toHaveLength(5);
      expect(lines.filter((l) => l.includes("starved on CPU 4"))).toHaveLength(1);
    } finally {
      closeSync(fd);
    }
  });
});
