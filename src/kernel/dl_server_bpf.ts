// rq->fair_server read through BPF: bpf/dl_server.bpf.c, an iterator that
// writes one record per CPU. Loaded once, run on demand (a walk of the task
// list, like a task_scan pass), detached on close.
import { LibbpfLog, runIterator } from "../bpf/common";
import { dlServerBpfObject } from "../bpf/objects";
import { DL_FLAG, DL_LAYOUT, decodeDl } from "../bpf/records";
import * as bpf from "../ffi/libbpf";
import type { Logger } from "../log/logger";
import { type DlServerCpu, type DlServerView, readDlServers, systemDlSources } from "./dl_server";

const PROGRAM = "stalld_dl_server";

export class DlServerReader {
  private obj: bpf.BpfObject | null = null;
  private link: bpf.BpfLink | null = null;
  private readonly buf = { bytes: new Uint8Array(4096) };

  /** Throws with libbpf's reason in one line. */
  constructor(
    private readonly object: Uint8Array,
    log: Logger,
    btfPath?: string,
  ) {
    const libbpfLog = new LibbpfLog(log);
    try {
      this.obj = bpf.openMem(object, { btfPath });
      bpf.load(this.obj);
      this.link = bpf.attachIter(bpf.findProgram(this.obj, PROGRAM), PROGRAM);
    } catch (e) {
      this.close();
      throw new Error(libbpfLog.failed(e));
    }
    libbpfLog.loaded();
  }

  read(): DlServerView {
    if (!this.link) throw new Error("closed");
    const len = runIterator(this.link, this.buf);
    const view = new DataView(this.buf.bytes.buffer, 0, len);
    const cpus = new Map<number, DlServerCpu>();
    let present = false;
    for (let off = 0; off + DL_LAYOUT.size <= len; off += DL_LAYOUT.size) {
      const r = decodeDl(view, off);
      if (!(r.flags & DL_FLAG.present)) continue;
      present = true;
      cpus.set(r.cpu, {
        cpu: r.cpu,
        runtimeNs: r.runtimeNs,
        periodNs: r.periodNs,
        active: r.flags & DL_FLAG.knowsActive ? (r.flags & DL_FLAG.active) !== 0 : null,
      });
    }
    if (!present && len > 0) return { kind: "none", source: "BPF: no rq->fair_server in this kernel", cpus };
    return { kind: "known", source: "BPF rq->fair_server", cpus };
  }

  close(): void {
    if (this.link) bpf.destroyLink(this.link);
    this.link = null;
    if (this.obj) bpf.close(this.obj);
    this.obj = null;
    void this.object;
  }
}

export interface DlServerSource {
  read(): DlServerView;
  close(): void;
}

/** BPF where it loads, then debugfs, then the kernel version: readDlServers' order. */
export function openDlServerSource(cpus: readonly number[], log: Logger, btfPath?: string): DlServerSource {
  let reader: DlServerReader | null = null;
  let bpfError = "";
  try {
    reader = new DlServerReader(dlServerBpfObject(), log, btfPath);
  } catch (e) {
    bpfError = (e as Error).message;
  }
  return {
    read: () =>
      readDlServers({
        bpf: () => {
          if (!reader) throw new Error(bpfError);
          return reader.read();
        },
        ...systemDlSources(cpus),
      }),
    close: () => reader?.close(),
  };
}
