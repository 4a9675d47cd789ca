#!/usr/bin/env bash
# Engine speed on Qwen2.5-Coder-0.5B-shaped synthetic models (24 layers,
# dim 896, 14 heads, 2 KV heads, ffn 4864, the qwen2 vocabulary of
# ../shared/vocab) in q8_0, q4_0 and q4_K (K where rows allow it, q5_0
# elsewhere, as llama.cpp quantises this shape). Models are written once
# into the build folder and reused (the generator is deterministic).
set -eu
cd "$(dirname "$0")/.."
: "${BUILD_DIR:=$PWD/build/release}" "${AIRLOCK:=$BUILD_DIR/airlock}"
SHARED=${AIRLOCK_SHARED:-$(cd .. && pwd)/shared}
VOCAB=$SHARED/vocab/ggml-vocab-qwen2.gguf
[ -f "$VOCAB" ] || { echo "model bench: $VOCAB not found (set AIRLOCK_SHARED); skipped"; exit 0; }
mkdir -p "$BUILD_DIR/bench/models"
${CC:-cc} -std=c17 -D_GNU_SOURCE -O2 -g -pthread -Isrc -o "$BUILD_DIR/bench/model_bench" \
  bench/model_bench.c "$BUILD_DIR/libairlock.a" -lm -pthread
for t in ${MODEL_BENCH_TYPES:-q8_0 q4_0 q4_K}; do
  m=$BUILD_DIR/bench/models/qwen2.5-0.5b-shape-$t.gguf
  [ -f "$m" ] || "$AIRLOCK" model synth --arch qwen2 --layers 24 --dim 896 --heads 14 \
    --kv-heads 2 --ffn 4864 --ctx 32768 --vocab-from "$VOCAB" --type "$t" --seed 1 -o "$m"
  "$BUILD_DIR/bench/model_bench" "$m" --threads "${MODEL_BENCH_THREADS:-2}" "$@"
done
