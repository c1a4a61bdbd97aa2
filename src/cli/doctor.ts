// `stalld doctor`: everything `run` depends on, one row per check (OK / WARN /
// FAIL, what was found, the remedy), then what `run` would do. --json for
// machines. Exit 0: run works with boosting; 1: only log-only would; 2: it cannot run.

import { writeSync } from "node:fs";
import { resolve } from "node:path";
import { type ArgsDef, defineCommand } from "citty";
import { type Check, chosenBackend, doctorExit, evaluate } from "../doctor/checks";
import { gatherFacts } from "../doctor/gather";
import { UsageError } from "../errors";
import { formatCpuList, onlineCpus, possibleCpus } from "../kernel/cpus";
import { silentLog } from "../log/logger";
import { btfArg, cpuArg } from "./args";
import { cpuListArg, rejectUnknown } from "./options";

const args = {
  ...cpuArg,
  json: { type: "boolean", description: "one JSON object instead of the table" },
  ...btfArg,
} as const satisfies ArgsDef;

const VERDICT = [
  "run works, with boosting",
  "run would only log (-l): no boost policy can be set",
  "run cannot start here",
] as const;

export function renderTable(checks: readonly Check[]): string {
  const w = Math.max(...checks.map((c) => c.id.length));
  const indent = " ".repeat(5 + 1 + w + 2);
  return checks
    .map((c) => `${c.status.padEnd(5)} ${c.id.padEnd(w)}  ${c.found}${c.remedy ? `\n${indent}fix: ${c.remedy}` : ""}`)
    .join("\n");
}

export default defineCommand({
  meta: { name: "doctor", description: "Check everything stalld depends on and say what `run` would do" },
  args,
  run: ({ args: parsed }) => {
    rejectUnknown(parsed, args);
    const online = onlineCpus();
    const monitored =
      parsed.cpu === undefined ? online : cpuListArg("-c/--cpu", parsed.cpu, online, possibleCpus().length);
    if (parsed.btf === "") throw new UsageError("--btf needs a value");
    const btfPath = parsed.btf === undefined ? undefined : resolve(String(parsed.btf));
    // libbpf's own lines would interleave with the table: they stay quiet here.
    const facts = gatherFacts(monitored, btfPath, silentLog);
    const checks = evaluate(facts);
    const exit = doctorExit(facts, checks);
    if (parsed.json) {
      const out = {
        kernel: facts.release,
        monitored: formatCpuList(monitored),
        checks,
        backend: chosenBackend(facts),
        boost: facts.boost.method,
        exit,
        verdict: VERDICT[exit],
      };
      writeSync(1, `${JSON.stringify(out, null, 2)}\n`);
    } else {
      writeSync(
        1,
        `stalld doctor: kernel ${facts.release}, monitoring CPUs ${formatCpuList(monitored)}\n\n` +
          `${renderTable(checks)}\n\n${VERDICT[exit]} (exit ${exit})\n`,
      );
    }
    process.exit(exit);
  },
});
