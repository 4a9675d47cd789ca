#!/usr/bin/env bash
# telemetry.bench.sh - builds bench/telemetry_bench.c against the release
# library and prints the /metrics scrape time with 10k series.
set -eu
B=${BUILD_DIR:?}
out="$B/bench/telemetry_bench"
mkdir -p "$B/bench"
cc -std=c17 -D_GNU_SOURCE -O2 -Isrc bench/telemetry_bench.c "$B/libairlock.a" \
  $(make --no-print-directory -s print-libs) -lm -pthread -o "$out"
"$out"
