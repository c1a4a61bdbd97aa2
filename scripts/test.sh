#!/usr/bin/env bash
# The whole test suite: unit tests, then integration tests that load the real
# BPF object and create real starvation on CPU 1 (root needed). Builds first,
# so it works on a fresh clone. Ends with "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh || { echo "0 passed, 1 failed, 0 skipped"; exit 1; }
BUN=node_modules/.bin/bun
"$BUN" --version >/dev/null 2>&1 || BUN=node_modules/@oven/bun-linux-x64/bin/bun

report=build/junit.xml
rm -f "$report"
# Files run one after another in this one process: RT loads never overlap.
"$BUN" test --timeout=120000 --reporter=junit --reporter-outfile="$report" tests/unit tests/integration
rc=$?
"$BUN" scripts/junit-summary.ts "$report"
exit $rc
