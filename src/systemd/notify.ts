// sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET. Failing to
// notify must never stop the daemon, so errors are returned, not thrown.
import { sendDatagram } from "../ffi/unix_socket";

/** Sends e.g. "READY=1\nSTATUS=...". false when there is no socket or sending failed. */
export function notify(state: string, env: Record<string, string | undefined> = process.env): boolean {
  const path = env.NOTIFY_SOCKET;
  if (!path) return false;
  try {
    sendDatagram(path, state);
    return true;
  } catch {
    return false;
  }
}
