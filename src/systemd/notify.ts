// sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET. Failing to
// notify must never stop the daemon, so errors are returned, not thrown.
import { fstatSync } from "node:fs";
import { sendDatagram } from "../ffi/unix_socket";

let lastError: string | null = null;

/** Sends e.g. "READY=1\nSTATUS=...". false when there is no socket or sending failed (see lastNotifyError). */
export function notify(state: string, env: Record<string, string | undefined> = process.env): boolean {
  const path = env.NOTIFY_SOCKET;
  if (!path) return false;
  try {
    sendDatagram(path, state);
    lastError = null;
    return true;
  } catch (e) {
    lastError = (e as Error).message;
    return false;
  }
}

export function lastNotifyError(): string | null {
  return lastError;
}

/** Whether fd is the journal stream systemd connected ($JOURNAL_STREAM = "dev:ino"), so `<N>` prefixes carry priorities. */
export function journalStream(env: Record<string, string | undefined> = process.env, fd = 2): boolean {
  const js = env.JOURNAL_STREAM;
  if (!js) return false;
  const [dev, ino] = js.split(":");
  try {
    const st = fstatSync(fd, { bigint: true });
    return dev !== undefined && ino !== undefined && st.dev === BigInt(dev) && st.ino === BigInt(ino);
  } catch {
    return false;
  }
}
