// The unit file run the way systemd runs it: EnvironmentFile expanded into
// ExecStart, ExecStartPre/ExecStopPost for throttling, the RuntimeDirectory,
// and a real notify socket that must get READY=1 from the daemon itself.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatagramReceiver } from "../../src/ffi/unix_socket";
import { guardRtFile } from "../helpers/guard";
import { ROOT, rtRuntime, STALLD, withRtLock } from "../helpers/rt";
import { expandExec, parseEnvironmentFile, unitValues } from "../helpers/systemd";

guardRtFile();
const UNIT = readFileSync(join(ROOT, "systemd/stalld.service"), "utf8");
const OUR_CONF = readFileSync(join(ROOT, "systemd/stalld.conf"), "utf8");
const ORIGINAL_CONF = readFileSync(join(ROOT, "tests/fixtures/sysconfig-stalld-original"), "utf8");

/** An Exec line of the unit with our freshly built binary in place of the installed path. */
function exec(key: string, env: Record<string, string>): string[] {
  const [line] = unitValues(UNIT, key);
  if (!line) throw new Error(`the unit has no ${key}=`);
  return expandExec(line, env).map((a) => (a === "/usr/local/bin/stalld" ? STALLD : a));
}

function spawnSync(argv: string[]) {
  const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe", cwd: "/" });
  return { code: r.exitCode, out: r.stdout.toString() + r.stderr.toString() };
}

/** Receives notify messages until one contains `want`, or throws after timeoutMs. */
async function waitNotify(rx: DatagramReceiver, want: string, timeoutMs: number, seen: string[]): Promise<string> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const m = rx.receive(0);
    if (m !== null) {
      seen.push(m);
      if (m.split("\n").includes(want)) return m;
    } else await Bun.sleep(20);
  }
  throw new Error(`no ${want} within ${timeoutMs} ms; got ${JSON.stringify(seen)}`);
}

/** One start/stop cycle of the unit with the given sysconfig file. */
async function runUnit(conf: string, check: (pid: number, env: Record<string, string>) => void) {
  const env = parseEnvironmentFile(conf);
  const dir = mkdtempSync(join(tmpdir(), "stalld-unit-"));
  const rx = DatagramReceiver.bind(join(dir, "notify"));
  const runtimeDir = `/run/${unitValues(UNIT, "RuntimeDirectory")[0]}`;
  const rtBefore = rtRuntime();
  mkdirSync(runtimeDir, { recursive: true, mode: 0o755 });
  const seen: string[] = [];
  try {
    const pre = spawnSync(exec("ExecStartPre", env));
    expect(pre.code).toBe(0);
    expect(rtRuntime()).toBe(-1);
    // Environment= first, then EnvironmentFile= over it, as systemd does.
    const unitEnv = Object.fromEntries(
      unitValues(UNIT, "Environment").map((a) => [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)]),
    );
    const proc = Bun.spawn(exec("ExecStart", env), {
      stdout: "pipe",
      stderr: "pipe",
      cwd: "/",
      env: { ...process.env, ...unitEnv, ...env, NOTIFY_SOCKET: rx.path },
    });
    try {
      const ready = await waitNotify(rx, "READY=1", 15_000, seen);
      expect(ready).toContain(`MAINPID=${proc.pid}`);
      expect(ready).toContain("STATUS=monitoring CPUs");
      expect(readFileSync(`/proc/${proc.pid}/environ`, "utf8").split("\0")).toContain("BUN_GC_TIMER_DISABLE=1");
      check(proc.pid, env);
      proc.kill("SIGTERM");
      await waitNotify(rx, "STOPPING=1", 10_000, seen);
      expect(await proc.exited).toBe(0);
    } finally {
      if (proc.exitCode === null) proc.kill("SIGKILL");
    }
    // --systemd: the daemon left throttling to the unit.
    expect(rtRuntime()).toBe(-1);
    expect(await new Response(proc.stderr).text()).not.toContain("RT Throttling");
  } finally {
    const post = spawnSync(exec("ExecStopPost", env));
    rx.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(runtimeDir, { recursive: true, force: true });
    expect(post.code).toBe(0);
    expect(rtRuntime()).toBe(rtBefore);
  }
}

describe("systemd/stalld.service", () => {
  test("declares Type=notify, the sysconfig file, a RuntimeDirectory, throttling around the daemon and no restart on config errors", () => {
    expect(unitValues(UNIT, "Type")).toEqual(["notify"]);
    expect(unitValues(UNIT, "EnvironmentFile")).toEqual(["-/etc/sysconfig/stalld"]);
    expect(unitValues(UNIT, "RuntimeDirectory")).toEqual(["stalld"]);
    // /run/stalld is also the default --state-dir: kept across a crash-restart for the recovery.
    expect(unitValues(UNIT, "RuntimeDirectoryPreserve")).toEqual(["restart"]);
    expect(unitValues(UNIT, "RestartPreventExitStatus")).toEqual(["1"]);
    expect(unitValues(UNIT, "OOMScoreAdjust")).toEqual(["-1000"]);
    expect(unitValues(UNIT, "ExecStart")[0]).toContain(
      "--systemd --foreground $CLIST $AGGR $BP $BR $BD $THRESH $LOGGING $FG $PF $IT $IP $BE",
    );
  });

  test("with our sysconfig file: READY=1 from the daemon, the pidfile in the RuntimeDirectory, STOPPING=1, throttling restored by ExecStopPost", async () => {
    await withRtLock(async () => {
      await runUnit(OUR_CONF.replace("CLIST=\n", 'CLIST="-c 1"\n'), (pid) => {
        expect(readFileSync("/run/stalld/stalld.pid", "utf8")).toBe(`${pid}\n`);
      });
      expect(existsSync("/run/stalld/stalld.pid")).toBe(false);
    });
  }, 60_000);

  test("the original's sysconfig file works unchanged (underscore flags, --log_only, its pidfile path, -b queue_track)", async () => {
    await withRtLock(async () => {
      await runUnit(ORIGINAL_CONF, (pid) => {
        expect(readFileSync("/run/stalld.pid", "utf8")).toBe(`${pid}\n`);
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
        expect(cmdline).toEqual(
          expect.arrayContaining(["--ignore_threads", "ksoftirqd,rcuc", "-t", "60", "--log_only", "-b", "queue_track"]),
        );
      });
      expect(existsSync("/run/stalld.pid")).toBe(false);
    });
  }, 60_000);

  test("a configuration error exits with the status the unit does not restart on, before anything changes", async () => {
    await withRtLock(async () => {
      const env = parseEnvironmentFile(OUR_CONF.replace('BP="-p 1000000000"', 'BP="-p 5"'));
      const rt = rtRuntime();
      const r = spawnSync(exec("ExecStart", env));
      expect(String(r.code)).toBe(unitValues(UNIT, "RestartPreventExitStatus")[0]!);
      expect(r.out).toContain("-p/--boost-period: 5 ns is out of range (allowed 200000000-4000000000 ns)");
      expect(rtRuntime()).toBe(rt);
    });
  }, 30_000);
});

describe("scripts/install.sh and uninstall.sh", () => {
  test("installs the binary, the unit pointing at it and the sysconfig file; keeps an operator's existing sysconfig", () => {
    const root = mkdtempSync(join(tmpdir(), "stalld-install-"));
    try {
      const run = () =>
        Bun.spawnSync(["bash", join(ROOT, "scripts/install.sh")], {
          env: { ...process.env, DESTDIR: root, BINDIR: "/opt/stalld/bin" },
          stdout: "pipe",
          stderr: "pipe",
        });
      expect(run().exitCode).toBe(0);
      expect(existsSync(join(root, "opt/stalld/bin/stalld"))).toBe(true);
      const unit = readFileSync(join(root, "etc/systemd/system/stalld.service"), "utf8");
      expect(unitValues(unit, "ExecStart")[0]).toStartWith("/opt/stalld/bin/stalld --systemd");
      expect(unitValues(unit, "ExecStartPre")).toEqual(["/opt/stalld/bin/stalld throttle off"]);
      expect(readFileSync(join(root, "etc/sysconfig/stalld"), "utf8")).toBe(OUR_CONF);
      writeFileSync(join(root, "etc/sysconfig/stalld"), 'THRESH="-t 30"\n');
      const again = run();
      expect(again.exitCode).toBe(0);
      expect(again.stdout.toString()).toContain("kept the existing");
      expect(readFileSync(join(root, "etc/sysconfig/stalld"), "utf8")).toBe('THRESH="-t 30"\n');
      // uninstall.sh takes back what install.sh put there; the operator's file stays without --purge.
      const uninstall = (...args: string[]) =>
        Bun.spawnSync(["bash", join(ROOT, "scripts/uninstall.sh"), ...args], {
          env: { ...process.env, DESTDIR: root, BINDIR: "/opt/stalld/bin" },
          stdout: "pipe",
          stderr: "pipe",
        });
      expect(uninstall().exitCode).toBe(0);
      expect(existsSync(join(root, "opt/stalld/bin/stalld"))).toBe(false);
      expect(existsSync(join(root, "etc/systemd/system/stalld.service"))).toBe(false);
      expect(existsSync(join(root, "etc/sysconfig/stalld"))).toBe(true);
      expect(uninstall("--purge").exitCode).toBe(0);
      expect(existsSync(join(root, "etc/sysconfig/stalld"))).toBe(false);
      expect(uninstall("--bogus").exitCode).toBe(1);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }, 30_000);
});
