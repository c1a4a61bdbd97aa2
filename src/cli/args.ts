// Argument definitions shared by the commands. Long names are kebab-case with
// the original stalld's underscore spelling as an alias; -v is verbose here,
// so --version has no short form.
import type { ArgsDef } from "citty";

export const runArgs = {
  cpu: { type: "string", alias: ["c"], valueHint: "list", description: "CPUs to monitor, e.g. 2-7,9 (default: all online CPUs)" },
  "starving-threshold": { type: "string", alias: ["t", "starving_threshold"], valueHint: "s", description: "seconds a task must wait before it is boosted (1-3600, default 20)" },
  "boost-period": { type: "string", alias: ["p", "boost_period"], valueHint: "ns", description: "SCHED_DEADLINE period of a boost (200000000-4000000000, default 1000000000)" },
  "boost-runtime": { type: "string", alias: ["r", "boost_runtime"], valueHint: "ns", description: "SCHED_DEADLINE runtime of a boost (8000-1000000, default 20000)" },
  "boost-duration": { type: "string", alias: ["d", "boost_duration"], valueHint: "s", description: "seconds a boost lasts (1-60, default 3)" },
  granularity: { type: "string", alias: ["g"], valueHint: "s", description: "longest sleep between passes, seconds (1-600, default 5)" },
  "log-only": { type: "boolean", alias: ["l", "log_only"], description: "only log starving tasks; change nothing on the system" },
  verbose: { type: "boolean", alias: ["v"], description: "log debug details" },
  backend: { type: "string", alias: ["b"], valueHint: "name", description: "how run queues are seen: task_scan (T) or queue_track (Q) (default: the best that starts)" },
} as const satisfies ArgsDef;
