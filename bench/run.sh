#!/usr/bin/env bash
# Entry point of the benchmarks (root): installs the standard tools they use,
# builds, runs every figure and writes BENCHMARKS.md. About 13 minutes;
# --quick shortens every figure for a smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."

tools=(linux-perf rt-tests)
missing=()
for pkg in "${tools[@]}"; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

bash scripts/setup.sh
cc -O2 -Wall -Werror -pthread -o build/threads bench/threads.c
. scripts/bun.sh
exec "$BUN" bench/run.ts "$@"
