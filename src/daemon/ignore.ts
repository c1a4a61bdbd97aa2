// -i / -I: tasks never boosted, by thread name or by the name of their
// process (the thread group leader's comm). Each task is logged once, with the
// original's phrase, not every pass it keeps starving.
import { readComm, type TaskStat } from "../kernel/proc";
import type { Logger } from "../log/logger";

const MAX_REMEMBERED = 4096;

export class IgnoreList {
  private readonly logged = new Set<string>();

  constructor(
    private readonly threads: readonly RegExp[],
    private readonly processes: readonly RegExp[],
    private readonly log: Logger,
    private readonly nameOfProcess: (tgid: number) => string | null = readComm,
  ) {}

  ignored(st: Pick<TaskStat, "pid" | "comm" | "starttime">, tgid: number): boolean {
    let line: string | null = null;
    if (this.threads.some((r) => r.test(st.comm)))
      line = `Ignoring the thread ${st.comm} from consideration for boosting`;
    else if (this.processes.length) {
      const proc = this.nameOfProcess(tgid);
      if (proc !== null && this.processes.some((r) => r.test(proc)))
        line = `Ignoring the thread ${st.comm} (spawned by ${proc}) from consideration for boosting`;
    }
    if (line === null) return false;
    // pid and starttime: a reused pid is another task.
    const key = `${st.pid}:${st.starttime}`;
    if (!this.logged.has(key)) {
      if (this.logged.size >= MAX_REMEMBERED) this.logged.clear();
      this.logged.add(key);
      this.log.info(`${line} (pid ${st.pid})`);
    }
    return true;
  }
}
