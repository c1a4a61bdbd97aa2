// The compiled binary's command line: bad input is one line and a non-zero
// exit before anything on the system changes.
import { beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { ROOT, requireRoot, rtRuntime, STALLD } from "../helpers/rt";

beforeAll(requireRoot);

function run(args: string[], opts: { uid?: number } = {}) {
  const argv =
    opts.uid === undefined
      ? [STALLD, ...args]
      : ["setpriv", `--reuid=${opts.uid}`, `--regid=${opts.uid}`, "--clear-groups", STALLD, ...args];
  const r = Bun.spawnSync(argv, { cwd: "/", stdout: "pipe", stderr: "pipe", timeout: 20_000 });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

const mounts = () => readFileSync("/proc/self/mounts", "utf8");

describe("stalld command line", () => {
  test("--version and -V print the version", () => {
    const pkg = JSON.parse(readFileSync(`${import.meta.dir}/../../package.json`, "utf8"));
    for (const flag of ["--version", "-V"]) {
      const r = run([flag]);
      expect(r.code).toBe(0);
      expect(r.out.trim()).toBe(`stalld ${pkg.version}`);
    }
  });

  test("--help lists the run flags; -v is verbose, not version", () => {
    for (const args of [["--help"], ["run", "--help"], ["-h"]]) {
      const r = run(args);
      expect(r.code).toBe(0);
      expect(r.out).toContain("--starving-threshold");
      expect(r.out).toMatch(/-v, --verbose/);
    }
  });

  test.each([
    [["run", "-t", "0"], "stalld: -t/--starving-threshold: 0 s is out of range (allowed 1-3600 s)"],
    [["run", "-c", "99"], 'stalld: -c/--cpu: invalid cpu list "99": cpu 99 does not exist'],
    [["run", "-d", "30"], "stalld: -d/--boost-duration (30 s) must not exceed -t/--starving-threshold (20 s)"],
    [["run", "-b", "nope"], 'stalld: -b/--backend: unknown backend "nope"'],
    [["run", "--bogus"], "stalld: unknown option --bogus"],
    [["-t", "0"], "stalld: -t/--starving-threshold: 0 s is out of range"],
  ])("%p: one line, exit 1, nothing changed", (args, message) => {
    const rt = rtRuntime();
    const before = mounts();
    const r = run(args);
    expect(r.code).toBe(1);
    expect(r.err.trim().split("\n")).toHaveLength(1);
    expect(r.err).toStartWith(message);
    expect(r.out).toBe("");
    expect(rtRuntime()).toBe(rt);
    expect(mounts()).toBe(before);
  });

  test("not root: one line, exit 2, nothing changed", () => {
    const rt = rtRuntime();
    const r = run(["run", "-c", "1"], { uid: 65534 });
    expect(r.code).toBe(2);
    expect(r.err.trim()).toBe("stalld: stalld must run as root");
    expect(rtRuntime()).toBe(rt);
  });

  test("without -b the best backend that starts is used, and named", async () => {
    const p = Bun.spawn([STALLD, "run", "-f", "-l", "-c", "1"], { cwd: "/", stdout: "pipe", stderr: "pipe" });
    let text = "";
    const reader = p.stderr.getReader();
    const until = Date.now() + 10_000;
    while (!text.includes("monitoring") && Date.now() < until) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    p.kill("SIGTERM");
    expect(await p.exited).toBe(0);
    expect(text).toMatch(/monitoring CPUs 1 with backend task_scan:/);
  });

  test("the shipped binary never loads a bunfig.toml from its working directory", async () => {
    const dir = `/tmp/stalld-cwd-${process.pid}`;
    await Bun.write(`${dir}/bunfig.toml`, 'preload = ["./evil.ts"]\n');
    await Bun.write(`${dir}/evil.ts`, 'console.log("EVIL LOADED");\n');
    const r = Bun.spawnSync([STALLD, "--version"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    rmSync(dir, { recursive: true, force: true });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.toString() + r.stderr.toString()).not.toContain("EVIL");
  });

  test("the build flags of scripts/build.sh stop .env and bunfig.toml autoload (and a build without them does not)", async () => {
    const flags = [...readFileSync(`${ROOT}/scripts/build.sh`, "utf8").matchAll(/--no-compile-autoload-[a-z]+/g)].map(
      (m) => m[0],
    );
    expect(flags.sort()).toEqual(["--no-compile-autoload-bunfig", "--no-compile-autoload-dotenv"]);
    const dir = `/tmp/stalld-probe-${process.pid}`;
    await Bun.write(`${dir}/probe.ts`, 'console.log(`probe=${process.env.STALLD_PROBE ?? "unset"}`);\n');
    await Bun.write(`${dir}/cwd/.env`, "STALLD_PROBE=loaded\n");
    await Bun.write(`${dir}/cwd/bunfig.toml`, 'preload = ["./evil.ts"]\n');
    await Bun.write(`${dir}/cwd/evil.ts`, 'console.log("EVIL LOADED");\n');
    const bun = `${ROOT}/node_modules/.bin/bun`;
    const build = (out: string, extra: string[]) => {
      const b = Bun.spawnSync([bun, "build", "--compile", ...extra, "--outfile", `${dir}/${out}`, `${dir}/probe.ts`], {
        stdout: "pipe",
        stderr: "pipe",
      });
      if (b.exitCode !== 0) throw new Error(`probe build failed: ${b.stderr}`);
      return Bun.spawnSync([`${dir}/${out}`], {
        cwd: `${dir}/cwd`,
        stdout: "pipe",
        stderr: "pipe",
        env: { PATH: process.env.PATH ?? "" },
      }).stdout.toString();
    };
    let safe: string, unsafe: string;
    try {
      safe = build("safe", flags);
      unsafe = build("unsafe", []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(safe).toBe("probe=unset\n");
    expect(unsafe).toContain("probe=loaded");
    expect(unsafe).toContain("EVIL LOADED");
  }, 60_000);
});
