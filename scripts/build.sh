#!/usr/bin/env bash
# Builds everything from source: the BPF objects, the single stalld binary with
# them embedded, and the helpers the tests use (an RT load, threads with hostile names).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${BUN:-}" ] || . scripts/bun.sh

bash scripts/build-bpf.sh

mkdir -p dist build
# A root daemon must not pick up .env or bunfig.toml from whatever directory
# it is started in: the compiled binary would, by default.
"$BUN" build --compile --no-compile-autoload-dotenv --no-compile-autoload-bunfig \
	--outfile dist/stalld src/main.ts
echo "build: dist/stalld ($(stat -c %s dist/stalld) bytes)"

cc -O2 -Wall -Werror -o build/rtload tests/helpers/rtload.c
cc -O2 -Wall -Werror -pthread -o build/namer tests/helpers/namer.c
# The lab's guest helper also serves the host tests of hostile boosted tasks (mover, lowerer).
cc -O2 -Wall -Werror -pthread -o build/labtool lab/labtool.c
