#!/usr/bin/env bash
# Lines longer than 120 characters in src/: Biome's formatter cannot break a
# long string, so this says where one is.
set -uo pipefail
cd "$(dirname "$0")/.."
long=$(awk 'length > 120 { printf "%s:%d: %d characters\n", FILENAME, FNR, length }' $(git ls-files 'src/*.ts'))
[ -z "$long" ] && exit 0
echo "$long"
echo "line-length: $(echo "$long" | wc -l) line(s) over 120 characters in src/"
exit 1
