// The DL-server (fair_server, Linux >= 6.12) already rescues starving fair
// tasks. Its debugfs directory tells whether this kernel has one.
import { existsSync } from "node:fs";
import { PSEUDO_FS } from "./mounts";

export function dlServerPresent(): boolean {
  return existsSync(`${PSEUDO_FS.debugfs}/sched/fair_server`);
}
