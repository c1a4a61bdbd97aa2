#!/usr/bin/env bash
# Builds the OCI image of stalld with podman (or buildah), from dist/stalld and
# nothing else: FROM scratch, the binary, the shared libraries it and libbpf
# load (as ldd names them, with the dynamic loader), an empty /tmp and
# /run/stalld. No base image from any registry, no shell.
#   bash scripts/image.sh            # tags stalld:<version> and prints its size
#   IMAGE=registry.example/stalld:1.0 bash scripts/image.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x dist/stalld ] || { echo "image.sh: dist/stalld is missing: run scripts/setup.sh first" >&2; exit 1; }

version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' package.json)
image=${IMAGE:-stalld:$version}
source_url=${SOURCE_URL:-$(git config --get remote.origin.url 2>/dev/null || echo unknown)}
if command -v podman >/dev/null; then engine=(podman build); elif command -v buildah >/dev/null; then engine=(buildah bud);
else echo "image.sh: neither podman nor buildah is installed (apt-get install podman)" >&2; exit 1; fi
# This VM's podman needs these (see the README's Fleet section); harmless elsewhere.
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/deploy/containers.conf}

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/root/tmp" "$ctx/root/run/stalld" "$ctx/root/proc" "$ctx/root/sys" "$ctx/root/dev"
chmod 1777 "$ctx/root/tmp"
chmod 0700 "$ctx/root/run/stalld"
cp dist/stalld "$ctx/root/stalld"
# libbpf is loaded with dlopen: ldd of the binary does not name it.
libbpf=$(ldconfig -p | awk '/libbpf\.so\.1 .*x86-64|libbpf\.so\.1 .*AArch64/ {print $NF; exit}')
[ -n "$libbpf" ] || { echo "image.sh: libbpf.so.1 not found (apt-get install libbpf1)" >&2; exit 1; }
for lib in $( { ldd dist/stalld; ldd "$libbpf"; echo "x => $libbpf (0)"; } | awk '/=>/ {print $3} /^\t\// {print $1}' | sort -u); do
  mkdir -p "$ctx/root$(dirname "$lib")"
  cp -L "$lib" "$ctx/root$lib"
  # The loader finds libraries by their soname under /lib/<triplet> and /usr/lib/<triplet>: keep both paths.
  case "$lib" in /lib/*) mkdir -p "$ctx/root/usr$(dirname "$lib")"; cp -L "$lib" "$ctx/root/usr$lib" ;; esac
done

cat >"$ctx/Containerfile" <<EOF
FROM scratch
COPY root/ /
LABEL org.opencontainers.image.title="stalld" \\
      org.opencontainers.image.description="Boosts threads starving on a CPU run queue (eBPF, SCHED_DEADLINE)" \\
      org.opencontainers.image.version="$version" \\
      org.opencontainers.image.source="$source_url" \\
      org.opencontainers.image.licenses="GPL-2.0-only"
ENV BUN_GC_TIMER_DISABLE=1
ENTRYPOINT ["/stalld"]
CMD ["run", "--foreground"]
EOF
"${engine[@]}" --quiet -t "$image" -f "$ctx/Containerfile" "$ctx" >/dev/null
size=$(podman image inspect "$image" --format '{{.Size}}' 2>/dev/null || buildah inspect --format '{{.Size}}' "$image" 2>/dev/null || echo "?")
echo "image.sh: built $image ($((size / 1024 / 1024)) MB: dist/stalld and $(find "$ctx/root" -name '*.so*' | wc -l) libraries)"
