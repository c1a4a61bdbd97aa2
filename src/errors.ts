// Exit codes, set deliberately (documented in README.md), and the two errors
// that end the program with one line: a bad command line, or a machine that
// cannot do what was asked.
export const EXIT = {
  ok: 0,
  /** Bad command line: nothing on the system was changed. */
  usage: 1,
  /** The machine cannot run stalld as asked (not root, BPF cannot load, ...). */
  environment: 2,
  /** A bug: everything the daemon changed was put back before exit. */
  internal: 3,
} as const;

/** Ends the program with a one-line message and a chosen code. */
export class Exit extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = "Exit";
  }
}

/** A flag or argument that is not accepted: exit 1, before anything changes. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Refuses to go on without root, naming the command. */
export function requireRoot(what: string, why = ""): void {
  if (process.geteuid?.() !== 0) throw new Exit(EXIT.environment, `${what} must run as root${why ? ` (${why})` : ""}`);
}
