// This program, to run again: the compiled binary alone, or bun and the entry script.
export function selfProgram(): string[] {
  return Bun.main.startsWith("/$bunfs/") ? [process.execPath] : [process.execPath, Bun.main];
}

/** argv that runs this program again with the same arguments, compiled or not. */
export function selfCommand(): string[] {
  return [...selfProgram(), ...process.argv.slice(2)];
}
