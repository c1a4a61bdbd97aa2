#!/usr/bin/env bash
# Compiles bpf/*.bpf.c into CO-RE objects under build/: clang -target bpf -O2 -g
# against a vmlinux.h generated from the running kernel's BTF, then drops the
# DWARF (useless to the loader, and it bloats the binary) but keeps .BTF/.BTF.ext,
# which CO-RE relocation needs.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build

btf=${VMLINUX_BTF:-/sys/kernel/btf/vmlinux}
[ -r "$btf" ] || { echo "build-bpf: no kernel BTF at $btf (CONFIG_DEBUG_INFO_BTF)" >&2; exit 1; }
if [ ! -s build/vmlinux.h ] || [ "$btf" -nt build/vmlinux.h ]; then
	bpftool btf dump file "$btf" format c > build/vmlinux.h.tmp
	mv build/vmlinux.h.tmp build/vmlinux.h
fi

case "$(uname -m)" in
	x86_64) arch=x86 ;;
	aarch64) arch=arm64 ;;
	riscv64) arch=riscv ;;
	*) arch=$(uname -m) ;;
esac

for src in bpf/*.bpf.c; do
	obj=build/$(basename "${src%.c}").o
	clang -target bpf -O2 -g -Wall -Werror -D__TARGET_ARCH_"$arch" \
		-I build -I bpf -c "$src" -o "$obj.tmp"
	llvm-strip -g "$obj.tmp"
	mv "$obj.tmp" "$obj"
	echo "build-bpf: $obj ($(stat -c %s "$obj") bytes)"
done
