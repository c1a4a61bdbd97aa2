// Prometheus text exposition: names, types, labels, escaping; what a pass counts.
import { describe, expect, test } from "bun:test";
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Backend, BackendStats, Snapshot } from "../../src/backends/backend";
import { parseRunConfig } from "../../src/cli/options";
import { listenMetrics } from "../../src/metrics/listener";
import { Metrics, parseListen, unsafeMetricsDir, writeMetricsFile } from "../../src/metrics/metrics";
import { recordingLogger, testDaemon } from "../helpers/fakes";
import { parseExposition } from "../helpers/prometheus";

function metricsFor(version: string, backend: string): Metrics {
  const m = new Metrics(version);
  m.setBackend(backend);
  return m;
}

describe("Metrics", () => {
  test("every family has HELP and TYPE; counters start at 0; labels are escaped", () => {
    const m = metricsFor("0.6.0", "task_scan");
    m.failures.add(1, { errno: 'E"X\\' });
    const text = m.render();
    expect(text.endsWith("\n")).toBe(true);
    for (const name of [
      "stalld_passes_total",
      "stalld_boosts_total",
      "stalld_boost_failures_total",
      "stalld_left_to_dl_server_total",
      "stalld_restores_total",
      "stalld_starving_detected_total",
      "stalld_dropped_tasks_total",
    ]) {
      expect(text).toContain(`# TYPE ${name} counter`);
    }
    expect(text).toContain('stalld_info{version="0.6.0",backend="task_scan"} 1');
    expect(text).toContain('stalld_boost_failures_total{errno="E\\"X\\\\"} 1');
    expect(parseExposition(text).get("stalld_passes_total")).toBe(0);
  });

  test("boost events: by the policy before the boost, failures by errno, restores", () => {
    const m = metricsFor("x", "y");
    const ev = m.boostEvents();
    const t = { pid: 1, comm: "c", cpu: 1, waitedNs: 0, starttime: 1 };
    ev.boosted(t, { policy: 1, flags: 0n, nice: 0, priority: 1, runtimeNs: 0n, deadlineNs: 0n, periodNs: 0n });
    ev.boosted(t, { policy: 0, flags: 0n, nice: 0, priority: 0, runtimeNs: 0n, deadlineNs: 0n, periodNs: 0n });
    ev.failed(t, "EPERM");
    ev.restored(t);
    const v = parseExposition(m.render());
    expect(v.get('stalld_boosts_total{policy="SCHED_FIFO"}')).toBe(1);
    expect(v.get('stalld_boosts_total{policy="SCHED_OTHER"}')).toBe(1);
    expect(v.get('stalld_boost_failures_total{errno="EPERM"}')).toBe(1);
    expect(v.get("stalld_restores_total")).toBe(1);
  });

  test("a pass counts itself, the starving task, each CPU's longest wait; the file is replaced whole", () => {
    const backend: Backend = {
      name: "fake",
      kernelDatedWaits: true,
      start() {},
      snapshot: (): Snapshot => ({
        nowNs: 0n,
        waiters: [{ pid: process.pid, tgid: process.pid, cpu: 1, prio: 98, policy: 1, waitedNs: 25e9 }],
        running: [undefined, { cpu: 1, pid: 1, tgid: 1, prio: 89, policy: 1, ranNs: 0 }],
      }),
      forget() {},
      stats: (): BackendStats => ({ dropped: 2 }),
      stop() {},
    };
    const dir = mkdtempSync(join(tmpdir(), "stalld-metrics-"));
    try {
      const m = metricsFor("x", "fake");
      const file = join(dir, "stalld.prom");
      const cfg = parseRunConfig({ "log-only": true, "no-idle-detect": true, cpu: "0,1" }, [0, 1], 2);
      const d = testDaemon(cfg, backend, recordingLogger().log, {
        metrics: m,
        afterPass: () => writeMetricsFile(file, m.render()),
      });
      d.pass();
      d.pass();
      const v = parseExposition(readFileSync(file, "utf8"));
      expect(v.get("stalld_passes_total")).toBe(2);
      expect(v.get("stalld_starving_detected_total")).toBe(2);
      expect(v.get('stalld_longest_wait_seconds{cpu="1"}')).toBe(25);
      expect(v.get('stalld_longest_wait_seconds{cpu="0"}')).toBe(0);
      expect(v.get("stalld_dropped_tasks_total")).toBe(2);
      expect(v.get("stalld_pass_duration_seconds_sum")).toBeGreaterThan(0);
      expect(readdirSync(dir)).toEqual(["stalld.prom"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the metrics file, in a directory others may share", () => {
  test("a symlink at the path is replaced, never followed; nothing is left behind when a write fails", () => {
    const dir = mkdtempSync(join(tmpdir(), "stalld-metrics-"));
    try {
      const target = join(dir, "precious");
      writeFileSync(target, "keep me\n");
      const path = join(dir, "stalld.prom");
      symlinkSync(target, path);
      writeMetricsFile(path, "x 1\n");
      expect(readFileSync(target, "utf8")).toBe("keep me\n");
      expect(lstatSync(path).isSymbolicLink()).toBe(false);
      expect(readFileSync(path, "utf8")).toBe("x 1\n");
      // The rename fails (the path is now a non-empty directory): the temporary file goes.
      rmSync(path);
      mkdirSync(join(path, "sub"), { recursive: true });
      expect(() => writeMetricsFile(path, "x 2\n")).toThrow();
      expect(readdirSync(dir).sort()).toEqual(["precious", "stalld.prom"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a directory writable by others without the sticky bit is refused; /tmp-like (sticky) and 0755 are fine", () => {
    expect(unsafeMetricsDir(0o40777)).toMatch(/writable by other users without the sticky bit/);
    expect(unsafeMetricsDir(0o40775)).not.toBeNull();
    expect(unsafeMetricsDir(0o41777)).toBeNull();
    expect(unsafeMetricsDir(0o40755)).toBeNull();
  });

  test("--metrics-listen: loopback is an IP literal; a name is served beyond this machine", () => {
    expect(parseListen("127.0.0.1:9101").loopback).toBe(true);
    expect(parseListen("127.200.1.9:9101").loopback).toBe(true);
    expect(parseListen("[::1]:9101").loopback).toBe(true);
    expect(parseListen("localhost:9101")).toEqual({ hostname: "127.0.0.1", port: 9101, loopback: true });
    expect(parseListen("127.evil.example:9101").loopback).toBe(false);
    expect(parseListen("127.0.0.1.nip.io:9101").loopback).toBe(false);
    expect(parseListen("0.0.0.0:9101").loopback).toBe(false);
  });

  test("an IPv6 pod IP spliced in unbracketed ($(POD_IP):9101) is taken, its last colon before the port", () => {
    expect(parseListen("fd00:10:244::5:9101")).toEqual({ hostname: "fd00:10:244::5", port: 9101, loopback: false });
    expect(parseListen("[fd00:10:244::5]:9101").hostname).toBe("fd00:10:244::5");
    expect(parseListen("::1:9101")).toEqual({ hostname: "::1", port: 9101, loopback: true });
    expect(parseListen("[0:0:0:0:0:0:0:1]:9101").loopback).toBe(true);
    expect(parseListen("[::]:9101").loopback).toBe(false);
    expect(parseListen("[::ffff:127.0.0.1]:9101").loopback).toBe(false); // said, not assumed
    for (const bad of ["fd00::zz:9101", "[fd00:::1]:9101", "fd00::1:", "fd00::1:70000", "1:2:9101"]) {
      expect(() => parseListen(bad)).toThrow();
    }
  });
});

describe("the /metrics listener", () => {
  const render = () => "stalld_passes_total 3\n";
  const get = async (port: number, request: string) => {
    const chunks: Buffer[] = [];
    await new Promise<void>((done) => {
      void Bun.connect({
        hostname: "127.0.0.1",
        port,
        socket: {
          open: (s) => void s.write(request),
          data: (_s, d) => void chunks.push(Buffer.from(d)),
          close: () => done(),
          error: () => done(),
        },
      });
    });
    return Buffer.concat(chunks).toString();
  };

  test("GET and HEAD /metrics, 404 elsewhere, 405 for other methods; one response, then close", async () => {
    const l = listenMetrics("127.0.0.1", 0, render);
    try {
      const ok = await get(l.port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
      expect(ok).toStartWith("HTTP/1.1 200 OK\r\n");
      expect(ok).toContain("Content-Type: text/plain; version=0.0.4");
      expect(ok).toEndWith("\r\n\r\nstalld_passes_total 3\n");
      expect(await get(l.port, "HEAD /metrics HTTP/1.1\r\n\r\n")).toEndWith("Cache-Control: no-store\r\n\r\n");
      expect(await get(l.port, "GET / HTTP/1.1\r\n\r\n")).toStartWith("HTTP/1.1 404");
      expect(await get(l.port, "POST /metrics HTTP/1.1\r\n\r\n")).toStartWith("HTTP/1.1 405");
    } finally {
      l.stop();
    }
  });

  test("/healthz: 200 while passes keep coming, 503 once the last is too old", async () => {
    const m = new Metrics("x");
    let maxAgeMs = 60_000;
    const l = listenMetrics(
      "127.0.0.1",
      0,
      () => m.render(),
      undefined,
      () => m.health(maxAgeMs),
    );
    try {
      m.passed();
      expect(await get(l.port, "GET /healthz HTTP/1.1\r\n\r\n")).toMatch(
        /^HTTP\/1\.1 200 OK[\s\S]*last pass 0\.\d s ago/,
      );
      maxAgeMs = 0;
      await Bun.sleep(5);
      expect(await get(l.port, "GET /healthz HTTP/1.1\r\n\r\n")).toStartWith("HTTP/1.1 503 Service Unavailable");
    } finally {
      l.stop();
    }
  });

  test("half-sent requests: at most maxConnections held, each closed at its deadline; oversize closed at once", async () => {
    const l = listenMetrics("127.0.0.1", 0, render, { maxConnections: 3, deadlineMs: 300, maxRequestBytes: 64 });
    const sockets: { end(): void }[] = [];
    try {
      for (let i = 0; i < 20; i++)
        sockets.push(
          await Bun.connect({
            hostname: "127.0.0.1",
            port: l.port,
            socket: { open: (s) => void s.write("GET /met"), data() {} },
          }),
        );
      await Bun.sleep(100);
      expect(l.open).toBe(3);
      await Bun.sleep(400);
      expect(l.open).toBe(0);
      // Served again once the slots are free; a request larger than the limit is refused.
      expect(await get(l.port, "GET /metrics HTTP/1.1\r\n\r\n")).toStartWith("HTTP/1.1 200");
      expect(await get(l.port, `GET /metrics HTTP/1.1\r\nX: ${"a".repeat(100)}\r\n\r\n`)).toBe("");
    } finally {
      for (const s of sockets) s.end();
      l.stop();
    }
  });
});
