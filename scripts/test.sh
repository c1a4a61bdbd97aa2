#!/usr/bin/env bash
# The whole test suite: the lint, the types, unit tests, then integration tests that load the real
# BPF object and create real starvation on CPU 1 (root needed). Builds first,
# so it works on a fresh clone; then the quick kernel lab. Ends with
# "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh || { echo "0 passed, 1 failed, 0 skipped"; exit 1; }
. scripts/bun.sh

# Formatting, lint rules and the 120-column limit (Biome, scripts/line-length.sh): one row.
"$BUN" run lint
rc_lint=$?
lint_counts=$([ $rc_lint -eq 0 ] && echo 1,0 || echo 0,1)
# Types (tsc --noEmit): one row. Biome does not see a name used but never imported.
"$BUN" run typecheck
rc_types=$?
types_counts=$([ $rc_types -eq 0 ] && echo 1,0 || echo 0,1)

report=build/junit.xml
report_sd=build/junit-sched_debug.xml
rm -f "$report" "$report_sd"
# Files run one after another in this one process: RT loads never overlap.
"$BUN" test --timeout=120000 --reporter=junit --reporter-outfile="$report" tests/unit tests/integration
rc=$?
# The flag suite once more with every daemon on the sched_debug backend (the
# starvation and fallback suites already run it on real starvation).
STALLD_TEST_BACKEND=sched_debug "$BUN" test --timeout=120000 --reporter=junit --reporter-outfile="$report_sd" \
	tests/integration/flags.test.ts
rc_sd=$?
# The quick kernel lab: scenarios 1, 2, 3 and 8 on Debian's 6.12 with the
# DL-server off, under qemu (only qemu runs on the host). Its rows count in the
# closing line; if kernels or qemu cannot be had it fails, never skips.
lab_log=build/lab-quick.log
bash lab/run.sh --quick 2>&1 | tee "$lab_log"
rc_lab=${PIPESTATUS[0]}
lab_counts=$(grep -Eo '^lab: [0-9]+ passed, [0-9]+ failed' "$lab_log" | tail -1 | grep -Eo '[0-9]+' | paste -sd, -)
"$BUN" scripts/junit-summary.ts --extra "$lint_counts" --extra "$types_counts" --extra "${lab_counts:-0,1}" \
	"$report" "$report_sd"
[ $rc_lint -eq 0 ] && [ $rc_types -eq 0 ] && [ $rc -eq 0 ] && [ $rc_sd -eq 0 ] && [ $rc_lab -eq 0 ]
