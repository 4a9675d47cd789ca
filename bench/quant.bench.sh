#!/usr/bin/env bash
# Kernel speed of the model module's tensor types (bench/quant_bench.c):
# built here against the build folder's libairlock.a, then run.
set -eu
cd "$(dirname "$0")/.."
: "${BUILD_DIR:=$PWD/build/release}"
mkdir -p "$BUILD_DIR/bench"
${CC:-cc} -std=c17 -D_GNU_SOURCE -O2 -g -pthread -Isrc -o "$BUILD_DIR/bench/quant_bench" \
  bench/quant_bench.c "$BUILD_DIR/libairlock.a" -lm -pthread
"$BUILD_DIR/bench/quant_bench" "$@"
