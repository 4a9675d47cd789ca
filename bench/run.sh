#!/usr/bin/env bash
# `make bench`: runs every bench/*.bench.sh with the build folder's airlock
# ($AIRLOCK) and prints their figures. Benchmarks measure, never assert:
# run them on an otherwise idle machine and compare side by side.
set -u
cd "$(dirname "$0")/.."
O=${1:-build/release}
export AIRLOCK="$PWD/$O/airlock" BUILD_DIR="$PWD/$O"
found=0
for b in bench/*.bench.sh; do
  [ -f "$b" ] || continue
  found=1
  echo "== $(basename "$b" .bench.sh)"
  bash "$b" || echo "bench: $(basename "$b") failed (exit $?)"
done
[ $found -eq 1 ] || echo "bench: no benchmarks registered (bench/*.bench.sh)"
