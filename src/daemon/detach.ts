// Detaching without fork (a multi-threaded runtime cannot fork safely): the
// parent starts the same binary again in a new session with stdio closed, and
// waits for it to say READY=1 on a private notify socket, the same message
// systemd gets. So the parent exits 0 only once the daemon is monitoring, and
// with the daemon's own exit code and messages when start-up fails.
import { mkdtempSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXIT, Exit } from "../errors";
import { DatagramReceiver } from "../ffi/unix_socket";
import { selfCommand } from "../self";
import { notify } from "../systemd/notify";
import { RUNTIME_ENV } from "./runtime_env";

export const DETACHED_ENV = "STALLD_DETACHED";
/** Sent with READY=1 by the detached daemon: how many bytes of messages it wrote before. */
export const STDERR_BYTES = "X_STALLD_STDERR_BYTES";
const READY_TIMEOUT_MS = 60_000;
const FORWARDED = ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT"] as const;

export function isDetachedChild(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[DETACHED_ENV] === "1";
}

/** null: not a READY message; otherwise the bytes of messages to copy before exiting. */
function readyIn(message: string | null): number | null {
  const lines = message?.split("\n") ?? [];
  if (!lines.includes("READY=1")) return null;
  const bytes = lines.find((l) => l.startsWith(`${STDERR_BYTES}=`));
  return bytes ? Number(bytes.slice(STDERR_BYTES.length + 1)) : 0;
}

/** The parent's side; resolves with the exit code the parent should exit with. */
export async function runDetached(timeoutMs = READY_TIMEOUT_MS): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "stalld-"));
  const socketPath = join(dir, "notify");
  const rx = DatagramReceiver.bind(socketPath);
  const outerNotify = process.env.NOTIFY_SOCKET;
  try {
    const child = Bun.spawn(selfCommand(), {
      // Bun's settings from the start: the child need not exec itself again (runtime_env.ts).
      env: { ...RUNTIME_ENV, ...process.env, NOTIFY_SOCKET: socketPath, [DETACHED_ENV]: "1" },
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
      cwd: "/",
    });
    // Stopping the parent while it waits stops the daemon too; the loop below then returns its code.
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    for (const sig of FORWARDED) process.on(sig, forward);
    // Until it is ready, the daemon's messages (and errors) are ours to show.
    let copied = 0;
    const forwarded = (async () => {
      for await (const chunk of child.stderr) copied += writeSync(2, chunk);
    })();
    const until = Date.now() + timeoutMs;
    for (;;) {
      const ready = readyIn(rx.receive(0));
      if (ready !== null) {
        // Everything it wrote before READY is in the pipe: copy it all (bounded wait).
        const copyUntil = Date.now() + 2000;
        while (copied < ready && Date.now() < copyUntil) await Bun.sleep(5);
        // Under a Type=notify unit without --foreground, pass readiness on with the real main pid.
        if (outerNotify) notify(`READY=1\nMAINPID=${child.pid}`, { NOTIFY_SOCKET: outerNotify });
        writeSync(2, `stalld: monitoring in the background as pid ${child.pid}\n`);
        child.unref();
        return EXIT.ok;
      }
      if (child.exitCode !== null || child.signalCode !== null) {
        await forwarded;
        return child.exitCode ?? EXIT.internal;
      }
      if (Date.now() > until) {
        child.kill("SIGTERM");
        throw new Exit(
          EXIT.environment,
          `the daemon (pid ${child.pid}) did not report ready within ${timeoutMs / 1000} s; stopped it`,
        );
      }
      await Bun.sleep(20);
    }
  } finally {
    rx.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
