// Entry point. Dispatches subcommands itself so that `stalld [flags]` (no
// subcommand) keeps working as the original's command line, and so that every
// error is one line on stderr with a deliberate exit code.

import { writeSync } from "node:fs";
import { type CommandDef, renderUsage, runCommand } from "citty";
import pkg from "../package.json" with { type: "json" };

import doctor from "./cli/doctor";
import run from "./cli/run";
import throttle from "./cli/throttle";
import top from "./cli/top";
import { EXIT, Exit, UsageError } from "./errors";
import { BTF_ENUM_COMMAND, kernelBtfEnumValue } from "./kernel/sched_features";

// Each command has its own argument types; the table only dispatches.
// biome-ignore lint/suspicious/noExplicitAny: citty's CommandDef is generic over each command's args
const SUBCOMMANDS: Record<string, CommandDef<any>> = { run, throttle, doctor, top };

const main: CommandDef = {
  meta: {
    name: "stalld",
    version: pkg.version,
    description: "Boost threads starving on a CPU run queue (eBPF, SCHED_DEADLINE)",
  },
  subCommands: SUBCOMMANDS,
};

function fail(code: number, message: string): never {
  writeSync(2, `stalld: ${message}\n`);
  process.exit(code);
}

async function dispatch(argv: string[]): Promise<void> {
  // Internal: a kernel BTF enum value, looked up in a short-lived copy (sched_features.ts).
  if (argv[0] === BTF_ENUM_COMMAND && argv.length === 2) {
    console.log(String(kernelBtfEnumValue(argv[1]!)));
    return;
  }
  // -V anywhere, as the original: a unit's ExecStart with -V must not start a daemon.
  if (argv.includes("--version") || argv.includes("-V")) {
    console.log(`stalld ${pkg.version}`);
    return;
  }
  const sub = argv[0] && SUBCOMMANDS[argv[0]] ? argv[0] : undefined;
  const cmd = sub ? SUBCOMMANDS[sub]! : run;
  const rest = sub ? argv.slice(1) : argv;
  if (rest.includes("--help") || rest.includes("-h")) {
    // The original's -h lists its flags: so does ours, then names the other commands.
    console.log(await renderUsage(cmd, main));
    if (!sub)
      console.log(
        `Without a command, stalld behaves as \`stalld run\`. Other commands: ${Object.keys(SUBCOMMANDS)
          .filter((c) => c !== "run")
          .map((c) => `stalld ${c}`)
          .join(", ")} (each with --help).`,
      );
    return;
  }
  await runCommand(cmd, { rawArgs: rest });
}

dispatch(process.argv.slice(2)).catch((e: unknown) => {
  if (e instanceof UsageError) fail(EXIT.usage, e.message);
  if (e instanceof Exit) fail(e.code, e.message);
  fail(EXIT.internal, (e as Error)?.stack ?? String(e));
});
