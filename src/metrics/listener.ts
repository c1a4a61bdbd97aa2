// GET /metrics over HTTP/1.x, on the daemon's only thread, so it is kept
// small and bounded: a few connections at a time (more are closed at once),
// a short deadline for the whole request, a request at most a few KiB, one
// response per connection, then close. A flood of half-sent requests costs a
// few file descriptors and timers, never the passes or the boost restores.
import type { Socket } from "bun";

export interface ListenerLimits {
  /** Connections served at once; more are closed as they arrive. */
  maxConnections: number;
  /** From accept to the end of the response. */
  deadlineMs: number;
  /** Request line and headers. */
  maxRequestBytes: number;
}

export const LISTENER_LIMITS: ListenerLimits = { maxConnections: 8, deadlineMs: 2000, maxRequestBytes: 4096 };

interface Conn {
  request: string;
  /** What is left to send once the response started. */
  pending: Buffer | null;
  timer: ReturnType<typeof setTimeout>;
  counted: boolean;
}

function response(status: string, type: string, body: string): Buffer {
  const head =
    `HTTP/1.1 ${status}\r\nContent-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    "Connection: close\r\nCache-Control: no-store\r\n\r\n";
  return Buffer.from(head + body, "utf8");
}

/** GET /healthz: 200 while passes keep coming, 503 when they stopped (a liveness probe). */
export type Health = () => { ok: boolean; detail: string };

/** The response to a complete request head. */
export function answer(head: string, render: () => string, health?: Health): Buffer {
  const [method, target] = head.split("\r\n", 1)[0]!.split(" ");
  if (method !== "GET" && method !== "HEAD")
    return response("405 Method Not Allowed", "text/plain; charset=utf-8", "stalld: only GET /metrics\n");
  if (target === "/healthz" && health) {
    const h = health();
    const r = response(h.ok ? "200 OK" : "503 Service Unavailable", "text/plain; charset=utf-8", `${h.detail}\n`);
    return method === "HEAD" ? r.subarray(0, r.indexOf("\r\n\r\n") + 4) : r;
  }
  if (target !== "/metrics" && !target?.startsWith("/metrics?"))
    return response("404 Not Found", "text/plain; charset=utf-8", "stalld: metrics are at /metrics\n");
  const ok = response("200 OK", "text/plain; version=0.0.4; charset=utf-8", render());
  return method === "HEAD" ? ok.subarray(0, ok.indexOf("\r\n\r\n") + 4) : ok;
}

export interface MetricsListener {
  readonly port: number;
  /** Connections open now. */
  readonly open: number;
  stop(): void;
}

/** Listens on hostname:port; throws when the port cannot be bound. */
export function listenMetrics(
  hostname: string,
  port: number,
  render: () => string,
  limits: ListenerLimits = LISTENER_LIMITS,
  health?: Health,
): MetricsListener {
  let open = 0;
  const finish = (s: Socket<Conn>) => {
    clearTimeout(s.data.timer);
    s.end();
  };
  const send = (s: Socket<Conn>) => {
    const p = s.data.pending!;
    const n = s.write(p);
    s.data.pending = n < p.length ? p.subarray(Math.max(0, n)) : null;
    if (!s.data.pending) finish(s);
  };
  const server = Bun.listen<Conn>({
    hostname,
    port,
    socket: {
      open(s) {
        s.data = {
          request: "",
          pending: null,
          timer: setTimeout(() => s.terminate(), limits.deadlineMs),
          counted: false,
        };
        if (open >= limits.maxConnections) {
          clearTimeout(s.data.timer);
          s.terminate();
          return;
        }
        open++;
        s.data.counted = true;
      },
      data(s, chunk) {
        if (s.data.pending) return;
        s.data.request += chunk.toString("latin1");
        if (s.data.request.length > limits.maxRequestBytes) return void s.terminate();
        const end = s.data.request.indexOf("\r\n\r\n");
        if (end < 0) return;
        s.data.pending = answer(s.data.request.slice(0, end), render, health);
        send(s);
      },
      drain(s) {
        if (s.data.pending) send(s);
      },
      close(s) {
        clearTimeout(s.data.timer);
        if (s.data.counted) open--;
        s.data.counted = false;
      },
      error(s) {
        s.terminate();
      },
    },
  });
  return {
    port: server.port,
    get open() {
      return open;
    },
    stop: () => server.stop(true),
  };
}
