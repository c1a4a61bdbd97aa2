// The BPF object is embedded into the compiled binary as a file asset.
declare module "*.bpf.o" {
  const path: string;
  export default path;
}
