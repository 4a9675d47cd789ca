#!/usr/bin/env bash
# Server benchmarks (figures only; run on an idle machine):
#  1. typing simulation: 50 successive FIM requests whose prefix (~1,500
#     tokens of real C source) grows by a few characters each time; p50/p95
#     time to first token (one generated token per request, so the request
#     time is the time to the first token) with the prompt cache and
#     without (--no-prompt-cache);
#  2. aggregate generated tokens/s: 8 concurrent streams vs 1.
# The model is synthetic (random weights, DeepSeek-Coder tokenizer), sized
# so that prompt evaluation dominates as it does with real models.
# Env: BENCH_DIM (128), BENCH_LAYERS (2), BENCH_THREADS (0: all CPUs),
# LLAMA_SERVER (path of a llama-server binary: the same runs against it on
# the same model file, and the ratios).
set -u
A=${AIRLOCK:?AIRLOCK must name the airlock binary}
cd "$(dirname "$0")/.."
S=${AIRLOCK_SHARED:-$(cd .. && pwd)/shared}
V="$S/vocab/ggml-vocab-deepseek-coder.gguf"
[ -f "$V" ] || { echo "server bench: $V absent, skipped"; exit 0; }
command -v curl >/dev/null || { echo "server bench: curl absent, skipped"; exit 0; }
T=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
export AIRLOCK_DATA="$T/data" AIRLOCK_LOG_LEVEL=warn AIRLOCK_MODEL_N_CTX=2048 \
  AIRLOCK_SERVER_SLOTS=8 AIRLOCK_SERVER_THREADS=${BENCH_THREADS:-0}
DIM=${BENCH_DIM:-128} LAYERS=${BENCH_LAYERS:-2}
"$A" model synth --arch llama --layers "$LAYERS" --dim "$DIM" --heads 8 --ffn $((DIM * 3)) \
  --seed 1 --vocab-from "$V" -o "$T/m.gguf" >/dev/null || exit 1
"$A" user add bench >/dev/null
TOK=$("$A" token create --user bench 2>/dev/null)

start() {
  : > "$T/out"
  "$A" serve --allow-unsandboxed --model "$T/m.gguf" --listen 127.0.0.1:0 "$@" >"$T/out" 2>"$T/err" &
  PID=$!
  for _ in $(seq 400); do grep -q serving "$T/out" 2>/dev/null && break; sleep 0.05; done
  U="http://127.0.0.1:$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$T/out")"
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null; PID=; }
pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int((NR-1)*p/100)+1; printf "%.1f", a[i]}'; }

# Prefix source: real code, ~3,900 characters (~1,500 tokens) growing by 4
# characters a request, with 300 characters of suffix.
cat src/server/srv_sched.c src/server/srv_http.c | head -c 9000 > "$T/src"
python3 - "$T" <<'PY'
import json, sys
t = sys.argv[1]
src = open(t + "/src", encoding="utf-8", errors="replace").read()
for i in range(50):
    n = 3900 + 4 * i
    body = {"input_prefix": src[:n], "input_suffix": src[n:n + 300],
            "n_predict": 1, "temperature": 0}
    open("%s/req%d.json" % (t, i), "w").write(json.dumps(body))
PY
typing() {
  : > "$T/ttft"
  for i in $(seq 0 49); do
    curl -s -o "$T/resp" -w '%{time_total}\n' -H "Authorization: Bearer $TOK" \
      --data-binary @"$T/req$i.json" "$U/infill" | awk '{printf "%.3f\n", $1 * 1000}' >> "$T/ttft"
  done
  grep -q "\"stop\":true" "$T/resp" || echo "server bench: request failed: $(head -c 300 "$T/resp")" >&2
  echo "$(pct 50 < "$T/ttft") $(pct 95 < "$T/ttft")"
}
start
read -r w50 w95 <<<"$(typing)"
tokens_cached=$(curl -s -H "Authorization: Bearer $TOK" "$U/v1/status" | sed -n 's/.*"prompt_tokens_cached":\([0-9]*\).*/\1/p')
stop
start --no-prompt-cache
read -r c50 c95 <<<"$(typing)"
stop
echo "typing simulation (50 FIM requests, ~1,500-token growing prefix, model dim $DIM x $LAYERS layers):"
echo "  prompt cache on : TTFT p50 ${w50} ms, p95 ${w95} ms (prompt tokens reused: $tokens_cached)"
echo "  prompt cache off: TTFT p50 ${c50} ms, p95 ${c95} ms"
awk -v w="$w50" -v c="$c50" 'BEGIN {printf "  warm p50 / cold p50 = %.1f %%\n", 100 * w / c}'

# Aggregate tokens/s: 1 stream, then 8 at once; greedy (engine and
# scheduler) and sampled at temperature 0.8 (adds the sampler's cost).
start
gen() { curl -s -N -o /dev/null -H "Authorization: Bearer $TOK" \
  -d "{\"prompt\":\"// stream $1\\nint main(void) {\",\"max_tokens\":128,\"temperature\":$TEMP,\"seed\":$1,\"stream\":true}" \
  "$U/v1/completions"; }
streams() {
  t0=$(date +%s.%N); gen 1; t1=$(date +%s.%N)
  pids=
  for i in 1 2 3 4 5 6 7 8; do gen "$i" & pids="$pids $!"; done
  for p in $pids; do wait "$p"; done
  t2=$(date +%s.%N)
}
for TEMP in 0 0.8; do
  streams
  awk -v a="$t0" -v b="$t1" -v c="$t2" -v t="$TEMP" 'BEGIN {
    one = 128 / (b - a); eight = 8 * 128 / (c - b)
    printf "generation, temperature %s: 1 stream %.1f tokens/s, 8 streams %.1f tokens/s aggregate (%.2fx)\n", t, one, eight, eight / one }'
done
stop
TEMP=0
ours_one=$t0 ours_mid=$t1 ours_end=$t2

# The same against llama-server, when one is given.
if [ -n "${LLAMA_SERVER:-}" ] && [ -x "$LLAMA_SERVER" ]; then
  lport=$(( 20000 + RANDOM % 20000 ))
  "$LLAMA_SERVER" -m "$T/m.gguf" --host 127.0.0.1 --port "$lport" -np 8 -c 16384 \
    ${BENCH_THREADS:+-t $BENCH_THREADS} >"$T/llama.log" 2>&1 &
  PID=$!
  U="http://127.0.0.1:$lport"
  for _ in $(seq 600); do curl -s "$U/health" 2>/dev/null | grep -q ok && break; sleep 0.1; done
  read -r lw50 lw95 <<<"$(typing)"
  for i in $(seq 0 49); do sed -i 's/}$/,"cache_prompt":false}/' "$T/req$i.json"; done
  read -r lc50 lc95 <<<"$(typing)"
  TEMP=0.8
  streams
  stop
  echo "llama-server: TTFT p50 warm ${lw50} ms, cold ${lc50} ms"
  awk -v w="$w50" -v lw="$lw50" -v c="$c50" -v lc="$lc50" 'BEGIN {
    printf "  airlock / llama-server TTFT p50: warm %.2f, cold %.2f\n", w / lw, c / lc }'
  awk -v a="$ours_one" -v b="$ours_mid" -v c="$ours_end" -v la="$t0" -v lb="$t1" -v lc="$t2" 'BEGIN {
    printf "  airlock / llama-server tokens/s at temperature 0.8: 1 stream %.2f, 8 streams %.2f\n",
      (lb - la) / (b - a), (lc - lb) / (c - b) }'
fi
