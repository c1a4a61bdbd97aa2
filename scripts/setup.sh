#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine (with node and npm) lacks, then
# builds. Idempotent: a second run installs nothing and only rebuilds.
set -euo pipefail
cd "$(dirname "$0")/.."

# clang, llvm: the BPF compiler and llvm-strip. libbpf-dev, libbpf1: headers for
# bpf/ and the library bun:ffi loads. bpftool: vmlinux.h from the kernel BTF;
# tests inspect links and programs with it. gcc, libc6-dev: the tests' RT load
# helper. util-linux, procps: taskset, flock, ps, script. podman, runc: the OCI image
# (scripts/image.sh) and the tests that run it.
APT_PACKAGES=(clang llvm libbpf-dev libbpf1 libelf1 bpftool gcc libc6-dev util-linux procps podman runc)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Bun comes from the npm registry, pinned in package.json / package-lock.json.
if [ ! -x node_modules/.bin/bun ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	npm ci --no-audit --no-fund
fi
. scripts/bun.sh

bash scripts/build.sh
