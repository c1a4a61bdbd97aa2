// The BPF objects, embedded in the compiled binary (Bun `type: "file"`
// assets). Native code cannot open the virtual /$bunfs path, so their bytes
// are read here and handed to bpf_object__open_mem.
import { readFileSync } from "node:fs";
import dlServerPath from "../../build/dl_server.bpf.o" with { type: "file" };
import stalldPath from "../../build/stalld.bpf.o" with { type: "file" };
import taskScanPath from "../../build/task_scan.bpf.o" with { type: "file" };

/** queue_track's tracepoint programs and start-up iterator. */
export function stalldBpfObject(): Uint8Array {
  return new Uint8Array(readFileSync(stalldPath));
}

/** task_scan's iterator. */
export function taskScanBpfObject(): Uint8Array {
  return new Uint8Array(readFileSync(taskScanPath));
}

/** The DL-server reader (kernel/dl_server.ts). */
export function dlServerBpfObject(): Uint8Array {
  return new Uint8Array(readFileSync(dlServerPath));
}
