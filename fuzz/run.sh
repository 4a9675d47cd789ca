#!/usr/bin/env bash
# Builds every fuzz/fuzz_*.c as a libFuzzer binary (clang, ASan + UBSan)
# against a fuzzing build of the library, then runs each for SECONDS
# (default 60) with its corpus in fuzz/corpus-<name>/ (seeded from
# fuzz/seeds/<name>/ when present). Crashes are saved beside the corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
command -v clang >/dev/null || { echo "fuzz: clang is required (scripts/deps.sh installs it)"; exit 1; }
FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -O1 -g"
make --no-print-directory BUILD=fuzz CC=clang CFLAGS="$FLAGS" build/fuzz/libairlock.a >/dev/null
LIBS=$(make --no-print-directory -s print-libs)
mkdir -p build/fuzz/bin
status=0
for src in fuzz/fuzz_*.c; do
  name=$(basename "$src" .c)
  bin=build/fuzz/bin/$name
  clang -std=c17 -D_GNU_SOURCE -Isrc -Itests/harness -fsanitize=fuzzer,address,undefined \
    -O1 -g "$src" build/fuzz/libairlock.a $LIBS -lm -pthread -o "$bin"
  corpus=fuzz/corpus-${name#fuzz_}
  mkdir -p "$corpus"
  seeds=fuzz/seeds/${name#fuzz_}
  echo "fuzz: $name for ${SECONDS_EACH}s"
  if ! "$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$corpus/" "$corpus" $( [ -d "$seeds" ] && echo "$seeds" ) \
      >"build/fuzz/$name.log" 2>&1; then
    echo "fuzz: $name FOUND A CRASH: see build/fuzz/$name.log and $corpus/crash-*"
    tail -n 30 "build/fuzz/$name.log"
    status=1
  else
    grep -E '^(#[0-9]+ *DONE|Done)' "build/fuzz/$name.log" | tail -n 1 || true
  fi
done
exit $status
