// Exit codes, set deliberately (documented in README.md).
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
