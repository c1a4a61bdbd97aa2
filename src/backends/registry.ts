// Every way of seeing run queues, in the order `run` tries them without -b
// (BENCHMARKS.md: the BPF backends first, then the debug file). The CLI, its
// help, doctor, top and bench all read this list; adding a backend is its
// own file plus one entry here.
import type { BackendSpec } from "./backend";
import { queueTrack } from "./queue_track";
import { schedDebug } from "./sched_debug";
import { taskScan } from "./task_scan";

export const BACKENDS = [taskScan, queueTrack, schedDebug] as const satisfies readonly BackendSpec[];

/** A registered backend's name (config.ts keeps it a plain string: layers below know no backend). */
export type BackendName = (typeof BACKENDS)[number]["name"];

/** A backend by name or by its one-letter alias. */
export function findBackend(nameOrAlias: string): BackendSpec | undefined {
  return BACKENDS.find((b) => b.name === nameOrAlias || b.alias === nameOrAlias);
}

export function backendByName(name: string): BackendSpec {
  const spec = findBackend(name);
  if (!spec) throw new Error(`no backend named ${name}`);
  return spec;
}

/** "task_scan (T), queue_track (Q) or sched_debug (S)", for help texts and errors. */
export function backendChoices(): string {
  const each = BACKENDS.map((b) => `${b.name} (${b.alias})`);
  return `${each.slice(0, -1).join(", ")} or ${each.at(-1)}`;
}

export const BACKEND_NAMES: readonly BackendName[] = BACKENDS.map((b) => b.name);
