// The BPF object, embedded in the compiled binary (Bun `type: "file"` asset).
// Native code cannot open the virtual /$bunfs path, so its bytes are read here
// and handed to bpf_object__open_mem.
import { readFileSync } from "node:fs";
import objectPath from "../../build/stalld.bpf.o" with { type: "file" };

export function stalldBpfObject(): Uint8Array {
  return new Uint8Array(readFileSync(objectPath));
}
