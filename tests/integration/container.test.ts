// The fleet path, for real: the OCI image (scripts/image.sh) run with the
// DaemonSet's settings translated to podman flags (--privileged, --pid=host,
// the host's /sys/kernel/debug and a state directory on the host), rescuing a
// real FIFO victim on CPU 1; `podman stop` puts RT throttling back; a
// container killed mid-boost is undone by the next one; a container without
// the host's pids refuses, in one line, changing nothing.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { SCHED_FIFO } from "../../src/kernel/sched_attr";
import { guardRtFile } from "../helpers/guard";
import { kill, type Load, policyOf, ROOT, rtRuntime, startLoad, withRtLock } from "../helpers/rt";

guardRtFile();

const IMAGE = `stalld:${pkg.version}`;
const ENV = { ...process.env, CONTAINERS_CONF: join(ROOT, "deploy/containers.conf") };
const podman = Bun.which("podman");
const state = mkdtempSync(join(tmpdir(), "stalld-host-run-"));
chmodSync(state, 0o700);
afterAll(() => rmSync(state, { recursive: true, force: true }));

/** The DaemonSet's privileges and hostPaths, as podman flags. */
const HOST = ["--privileged", "--pid=host", "-v", "/sys/kernel/debug:/sys/kernel/debug", "-v", `${state}:/run/stalld`];

interface Container {
  name: string;
  lines: string[];
  exited: Promise<number>;
  waitFor(re: RegExp, ms: number): Promise<string>;
}

let seq = 0;
/** podman run, attached, its client on CPU 0 (conmon follows): the log comes back through it. */
function run(podmanArgs: string[], stalldArgs: string[]): Container {
  const name = `stalld-test-${process.pid}-${++seq}`;
  const proc = Bun.spawn(
    ["taskset", "-c", "0", "podman", "run", "--rm", "--name", name, ...podmanArgs, IMAGE, ...stalldArgs],
    {
      stdout: "pipe",
      stderr: "pipe",
      env: ENV,
    },
  );
  const lines: string[] = [];
  const collect = async (s: ReadableStream<Uint8Array>) => {
    let buf = "";
    for await (const chunk of s) {
      buf += new TextDecoder().decode(chunk);
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    }
    if (buf) lines.push(buf);
  };
  const done = Promise.all([collect(proc.stdout), collect(proc.stderr)]);
  return {
    name,
    lines,
    exited: proc.exited.then(async (code) => (await done, code)),
    async waitFor(re, ms) {
      const until = Date.now() + ms;
      for (;;) {
        const hit = lines.find((l) => re.test(l));
        if (hit) return hit;
        if (Date.now() > until || proc.exitCode !== null)
          throw new Error(`no line matching ${re} within ${ms} ms:\n${lines.join("\n")}`);
        await Bun.sleep(50);
      }
    },
  };
}

const podmanDo = (...args: string[]) =>
  Bun.spawnSync(["podman", ...args], { env: ENV, stdout: "pipe", stderr: "pipe" });

describe.skipIf(!podman)("the image, run as the DaemonSet runs it (podman; CI installs it)", () => {
  beforeAll(() => {
    const r = Bun.spawnSync(["bash", join(ROOT, "scripts/image.sh")], { env: ENV, stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0)
      throw new Error(`scripts/image.sh failed (${r.exitCode}): ${r.stdout.toString()} ${r.stderr.toString()}`);
  }, 120_000);

  test("rescues a FIFO victim on the host's CPU 1 and puts it back; podman stop restores RT throttling", async () => {
    await withRtLock(async () => {
      const rt = rtRuntime();
      let hog: Load | undefined;
      let victim: Load | undefined;
      const c = run(HOST, ["run", "-f", "-c", "1", "-t", "2", "-d", "2"]);
      try {
        await c.waitFor(/monitoring CPUs 1 with backend/, 30_000);
        expect(rtRuntime()).toBe(-1);
        hog = await startLoad("fifo", 10, 12);
        await Bun.sleep(100);
        victim = await startLoad("fifo", 1, 12);
        await c.waitFor(new RegExp(`boosted pid ${victim.pid} \\(rtload\\) \\(cpu 1\\)`), 10_000);
        await c.waitFor(new RegExp(`restored pid ${victim.pid} \\(rtload\\)`), 10_000);
        expect(policyOf(victim.pid)).toEqual({ policy: SCHED_FIFO, rtPriority: 1 });
        const t0 = Date.now();
        expect(podmanDo("stop", "-t", "30", c.name).exitCode).toBe(0);
        expect(await c.exited).toBe(0);
        // Well within the DaemonSet's terminationGracePeriodSeconds (30).
        expect(Date.now() - t0).toBeLessThan(15_000);
        expect(rtRuntime()).toBe(rt);
        expect(c.lines.at(-1)).toMatch(/stalld shutting down$/);
      } finally {
        await kill(hog, victim);
        podmanDo("rm", "-f", c.name);
      }
    });
  }, 90_000);

  test("podman kill -s KILL mid-boost, then a new container on the same hostPath puts the victim back", async () => {
    await withRtLock(async () => {
      const rt = rtRuntime();
      let hog: Load | undefined;
      let victim: Load | undefined;
      const first = run(HOST, ["run", "-f", "-c", "1", "-t", "3", "-d", "3"]);
      let second: Container | undefined;
      try {
        await first.waitFor(/monitoring CPUs 1 with backend/, 30_000);
        hog = await startLoad("fifo", 10, 14);
        await Bun.sleep(100);
        victim = await startLoad("fifo", 1, 14);
        await first.waitFor(new RegExp(`boosted pid ${victim.pid} `), 10_000);
        expect(podmanDo("kill", "-s", "KILL", first.name).exitCode).toBe(0);
        await first.exited;
        expect(policyOf(victim.pid)).not.toEqual({ policy: SCHED_FIFO, rtPriority: 1 });
        second = run(HOST, ["run", "-f", "-c", "1", "-t", "30"]);
        await second.waitFor(
          new RegExp(`restored pid ${victim.pid} \\(rtload\\) .* which died during the boost`),
          30_000,
        );
        await second.waitFor(/monitoring CPUs 1 with backend/, 10_000);
        expect(policyOf(victim.pid)).toEqual({ policy: SCHED_FIFO, rtPriority: 1 });
        expect(podmanDo("stop", "-t", "30", second.name).exitCode).toBe(0);
        expect(await second.exited).toBe(0);
        expect(rtRuntime()).toBe(rt);
      } finally {
        await kill(hog, victim);
        podmanDo("rm", "-f", first.name);
        if (second) podmanDo("rm", "-f", second.name);
      }
    });
  }, 120_000);

  test("without --pid=host: exit 2, one line with the remedy, nothing changed", async () => {
    const rt = rtRuntime();
    const mounts = readFileSync("/proc/self/mounts", "utf8")
      .split("\n")
      .filter((l) => l.includes("debugfs"));
    const c = run(["--privileged", "-v", `${state}:/run/stalld`], ["run", "-f", "-c", "1"]);
    expect(await c.exited).toBe(2);
    expect(c.lines).toEqual([
      expect.stringMatching(/^stalld: running in a pid namespace of its own .*--pid=host.*hostPID: true/),
    ]);
    expect(rtRuntime()).toBe(rt);
    expect(
      readFileSync("/proc/self/mounts", "utf8")
        .split("\n")
        .filter((l) => l.includes("debugfs")),
    ).toEqual(mounts);
  }, 60_000);
});
