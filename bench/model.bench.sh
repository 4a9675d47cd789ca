#!/usr/bin/env bash
# Inference speed (`airlock bench`) on synthetic models in the shapes of
# real ones, written once by `airlock model synth` into a cache folder and
# reused (the generator is deterministic):
#
#   qwen2.5-coder-0.5b  qwen2, 24 layers, dim 896, 14 heads, 2 KV, ffn 4864, tied
#   qwen2.5-coder-1.5b  qwen2, 28 layers, dim 1536, 12 heads, 2 KV, ffn 8960, tied
#   tinyllama-1.1b      llama, 22 layers, dim 2048, 32 heads, 4 KV, ffn 5632
#
# in q8_0, q4_0 and q4_K_M (the mix llama.cpp's Q4_K_M preset writes: q6_K
# output, attn_v and ffn_down in some layers, q4_K elsewhere, with its
# fall-backs where rows are not multiples of 256), at 1 and 2 threads;
# prints one table row per run and keeps each run's JSON.
#
# BENCH_QUICK=1: the 0.5B shape in q8_0 at 2 threads with short runs (a
# smoke test of the harness, as `make bench` runs it by default on CI).
# Override with BENCH_SHAPES, BENCH_TYPES, BENCH_THREADS, BENCH_ARGS;
# BENCH_MODELS is the model cache (default build/bench-models).
# The full run takes tens of minutes: run it by hand on an idle machine.
set -eu
cd "$(dirname "$0")/.."
: "${BUILD_DIR:=$PWD/build/release}" "${AIRLOCK:=$BUILD_DIR/airlock}"
SHARED=${AIRLOCK_SHARED:-$(cd .. && pwd)/shared}
CACHE=${BENCH_MODELS:-$PWD/build/bench-models}

if [ -n "${BENCH_QUICK:-}" ]; then
  SHAPES=${BENCH_SHAPES:-qwen2.5-coder-0.5b}
  TYPES=${BENCH_TYPES:-q8_0}
  THREADS=${BENCH_THREADS:-2}
  ARGS=${BENCH_ARGS:--p 64 -n 16 --ctx-depth 256 --reps 1}
else
  SHAPES=${BENCH_SHAPES:-qwen2.5-coder-0.5b qwen2.5-coder-1.5b tinyllama-1.1b}
  TYPES=${BENCH_TYPES:-q8_0 q4_0 q4_K_M}
  THREADS=${BENCH_THREADS:-2 1}
  ARGS=${BENCH_ARGS:--p 512 -n 128 --ctx-depth 4096 --reps 3}
fi

command -v jq >/dev/null || { echo "model bench: jq not found (scripts/deps.sh installs it); skipped"; exit 0; }

# shape NAME -> synth arguments (without type and output)
shape_args() {
  case $1 in
  qwen2.5-coder-0.5b)
    echo "--arch qwen2 --layers 24 --dim 896 --heads 14 --kv-heads 2 --ffn 4864 --ctx 32768 --vocab-from $SHARED/vocab/ggml-vocab-qwen2.gguf" ;;
  qwen2.5-coder-1.5b)
    echo "--arch qwen2 --layers 28 --dim 1536 --heads 12 --kv-heads 2 --ffn 8960 --ctx 32768 --vocab-from $SHARED/vocab/ggml-vocab-qwen2.gguf" ;;
  tinyllama-1.1b)
    echo "--arch llama --layers 22 --dim 2048 --heads 32 --kv-heads 4 --ffn 5632 --ctx 2048 --vocab-from $SHARED/vocab/ggml-vocab-llama-spm.gguf" ;;
  *) return 1 ;;
  esac
}

# model_file SHAPE TYPE -> path of the cached model (written when absent)
model_file() {
  local f=$CACHE/$1-$2.gguf
  if [ ! -f "$f" ]; then
    local a
    a=$(shape_args "$1") || { echo "model bench: unknown shape $1" >&2; return 1; }
    mkdir -p "$CACHE"
    echo "model bench: writing $f" >&2
    # shellcheck disable=SC2086
    "$AIRLOCK" model synth $a --type "$2" --seed 1 -o "$f" >&2 || return 1
  fi
  echo "$f"
}

for v in ggml-vocab-qwen2.gguf ggml-vocab-llama-spm.gguf; do
  [ -f "$SHARED/vocab/$v" ] || { echo "model bench: $SHARED/vocab/$v not found (set AIRLOCK_SHARED); skipped"; exit 0; }
done

OUT=${BENCH_OUT:-$BUILD_DIR/bench/model-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
echo "airlock bench $ARGS; results in $OUT"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) (figures are only meaningful on an idle machine)"
fmt='%-20s %-5s %3s %9s %9s %11s %9s %8s %8s %9s\n'
# shellcheck disable=SC2059
printf "$fmt" model type thr pp tg tg@depth roofline reached "BW GB/s" "RSS MiB"
status=0
for s in $SHAPES; do
  for t in $TYPES; do
    m=$(model_file "$s" "$t") || { status=1; continue; }
    for th in $THREADS; do
      j=$OUT/$s-$t-t$th.json
      # shellcheck disable=SC2086
      if ! "$AIRLOCK" bench -m "$m" -t "$th" $ARGS --json >"$j"; then
        echo "model bench: $s $t $th threads failed"; status=1; continue
      fi
      # shellcheck disable=SC2059
      printf "$fmt" "$s" "$t" "$th" $(jq -r '[
        (.pp_tps*10|round/10), (.tg_tps*100|round/100),
        (if .tg_tps_ctx4096 == null then "-" else (.tg_tps_ctx4096*100|round/100) end),
        (.roofline_tps*10|round/10), ((.roofline_fraction*1000|round/10|tostring) + "%"),
        (.bandwidth_bytes_per_s/1e8|round/10), (.peak_rss_bytes/1048576|round)] | @tsv' "$j")
    done
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
