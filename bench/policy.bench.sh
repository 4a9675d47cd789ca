#!/usr/bin/env bash
# Policy figures: scanning MB/s, per-completion overhead of a 200-rule
# bundle, token-guard cost. Builds bench/policy_bench.c against the
# library of the build folder ($BUILD_DIR).
set -eu
cd "$(dirname "$0")/.."
B=${BUILD_DIR:-build/release}
LIBS=$(make --no-print-directory -s print-libs)
mkdir -p "$B/bench"
cc -std=c17 -D_GNU_SOURCE -O2 -Isrc bench/policy_bench.c "$B/libairlock.a" $LIBS -lm -pthread \
  -o "$B/bench/policy_bench"
"$B/bench/policy_bench" "$@"
