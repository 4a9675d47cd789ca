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
# Env: BENCH_DIM (128), BENCH_LAYERS (2), BENCH_TYPE (f32: the synthetic
# model's weight type), BENCH_THREADS (0: all CPUs),
# BENCH_MODEL (a real GGUF model with its own vocabulary, used instead of
# the synthetic one), BENCH_PARTS ("typing streams": which runs),
# BENCH_REQUESTS (50: requests of the typing simulation), BENCH_NO_FIM (1:
# the typing simulation sends the growing prefix as a plain completion
# prompt, for models without FIM tokens), BENCH_ROUNDS (1: rounds of 1-vs-8 streams, each printed, then the median
# ratio), BENCH_TEMPS ("0 0.8"), BENCH_TOKENS (128 per stream),
# LLAMA_SERVER (path of a llama-server binary: the same runs against it on
# the same model file, and the ratios).
set -u
A=${AIRLOCK:?AIRLOCK must name the airlock binary}
cd "$(dirname "$0")/.."
S=${AIRLOCK_SHARED:-$(cd .. && pwd)/shared}
V="$S/vocab/ggml-vocab-deepseek-coder.gguf"
M=${BENCH_MODEL:-}
[ -n "$M" ] || [ -f "$V" ] || { echo "server bench: $V absent, skipped"; exit 0; }
PARTS=${BENCH_PARTS:-typing streams} ROUNDS=${BENCH_ROUNDS:-1}
NTOK=${BENCH_TOKENS:-128} NREQ=${BENCH_REQUESTS:-50}
command -v curl >/dev/null || { echo "server bench: curl absent, skipped"; exit 0; }
T=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
export AIRLOCK_DATA="$T/data" AIRLOCK_LOG_LEVEL=warn AIRLOCK_MODEL_N_CTX=2048 \
  AIRLOCK_SERVER_SLOTS=8 AIRLOCK_SERVER_THREADS=${BENCH_THREADS:-0}
DIM=${BENCH_DIM:-128} LAYERS=${BENCH_LAYERS:-2}
if [ -n "$M" ]; then
  ln -s "$(cd "$(dirname "$M")" && pwd)/$(basename "$M")" "$T/m.gguf"
  MDESC=$(basename "$M")
else
  "$A" model synth --arch llama --layers "$LAYERS" --dim "$DIM" --heads 8 --ffn $((DIM * 3)) \
    --type "${BENCH_TYPE:-f32}" --seed 1 --vocab-from "$V" -o "$T/m.gguf" >/dev/null || exit 1
  MDESC="synthetic, dim $DIM x $LAYERS layers, ${BENCH_TYPE:-f32}"
fi
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
ROUTE=/infill OKRE='"stop":true'
[ "${BENCH_NO_FIM:-0}" = 1 ] && ROUTE=/v1/completions OKRE='"finish_reason"'
python3 - "$T" "$NREQ" "$ROUTE" <<'PY'
import json, sys
t = sys.argv[1]
src = open(t + "/src", encoding="utf-8", errors="replace").read()
for i in range(int(sys.argv[2])):
    n = 3900 + 4 * i
    if sys.argv[3] == "/infill":
        body = {"input_prefix": src[:n], "input_suffix": src[n:n + 300],
                "n_predict": 1, "temperature": 0}
    else:
        body = {"prompt": src[:n], "max_tokens": 1, "temperature": 0}
    open("%s/req%d.json" % (t, i), "w").write(json.dumps(body))
PY
# Prints "p50 p95" in ms, or "- -" when any request failed (its time
# would not be a time to first token).
typing() {
  : > "$T/ttft"
  bad=0
  for i in $(seq 0 $((NREQ - 1))); do
    curl -s -o "$T/resp" -w '%{time_total}\n' -H "Authorization: Bearer $TOK" \
      --data-binary @"$T/req$i.json" "$U$ROUTE" | awk '{printf "%.3f\n", $1 * 1000}' >> "$T/ttft"
    grep -q "$OKRE" "$T/resp" || { bad=$((bad + 1)); last=$(head -c 300 "$T/resp"); }
  done
  if [ "$bad" -gt 0 ]; then
    echo "server bench: $bad of $NREQ requests failed, the last: $last" >&2
    echo "- -"
    return
  fi
  echo "$(pct 50 < "$T/ttft") $(pct 95 < "$T/ttft")"
}
# a / b with two decimals (times 100 with one decimal and " %" when a
# third argument is given), or "n/a" when either is missing.
ratio() { awk -v a="$1" -v b="$2" -v pc="${3:-}" 'BEGIN {
  if (a == "-" || b == "-" || a == "" || b == "" || b + 0 == 0) print "n/a"
  else if (pc != "") printf "%.1f %%\n", 100 * a / b
  else printf "%.2f\n", a / b }'; }
case " $PARTS " in *" typing "*)
start
read -r w50 w95 <<<"$(typing)"
tokens_cached=$(curl -s -H "Authorization: Bearer $TOK" "$U/v1/status" | sed -n 's/.*"prompt_tokens_cached":\([0-9]*\).*/\1/p')
stop
start --no-prompt-cache
read -r c50 c95 <<<"$(typing)"
stop
echo "typing simulation ($NREQ ${ROUTE#/} requests, ~1,500-token growing prefix, model $MDESC):"
echo "  prompt cache on : TTFT p50 ${w50} ms, p95 ${w95} ms (prompt tokens reused: $tokens_cached)"
echo "  prompt cache off: TTFT p50 ${c50} ms, p95 ${c95} ms"
echo "  warm p50 / cold p50 = $(ratio "$w50" "$c50" %)"
;; esac

# Aggregate tokens/s: 1 stream, then 8 at once, in the same round (the
# machine may be shared: each round compares like with like, and the median
# of the rounds' ratios is printed); greedy (engine and scheduler) and
# sampled at temperature 0.8 (adds the sampler's cost). Tokens are counted
# from each stream's usage chunk, so a stream that ends early (a real model
# may emit end-of-text) is not counted as NTOK.
gen() { curl -s -N -o "$T/gen$1" -H "Authorization: Bearer $TOK" \
  -d "{\"prompt\":\"// stream $1\\nint main(void) {\",\"max_tokens\":$NTOK,\"temperature\":$TEMP,\"seed\":$1,\"stream\":true,\"stream_options\":{\"include_usage\":true}}" \
  "$U/v1/completions"; }
ntok() { # tokens generated by the streams named
  n=0
  for i in "$@"; do
    c=$(sed -n 's/.*"completion_tokens":\([0-9]*\).*/\1/p' "$T/gen$i" | tail -n 1)
    [ -n "$c" ] || { echo "server bench: stream $i has no usage: $(head -c 300 "$T/gen$i")" >&2; c=0; }
    n=$((n + c))
  done
  echo "$n"
}
# CPU seconds the server has used (user + system): on a shared machine the
# wall-clock ratio swings with the other load; tokens per CPU second of
# the server swing less (printed as "cpu").
HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)
cpu() { awk -v hz="$HZ" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$PID/stat" 2>/dev/null || echo 0; }
streams() {
  c0=$(cpu); t0=$(date +%s.%N); gen 1; t1=$(date +%s.%N); c1=$(cpu)
  n1=$(ntok 1)
  pids=
  for i in 1 2 3 4 5 6 7 8; do gen "$i" & pids="$pids $!"; done
  for p in $pids; do wait "$p"; done
  t2=$(date +%s.%N); c2=$(cpu)
  n8=$(ntok 1 2 3 4 5 6 7 8)
}
case " $PARTS " in *" streams "*)
start
echo "generation (model $MDESC, $NTOK tokens a stream, $ROUNDS round(s)):"
for TEMP in ${BENCH_TEMPS:-0 0.8}; do
  : > "$T/ratios"
  for r in $(seq "$ROUNDS"); do
    streams
    awk -v a="$t0" -v b="$t1" -v c="$t2" -v t="$TEMP" -v n1="$n1" -v n8="$n8" \
        -v ca="$c0" -v cb="$c1" -v cc="$c2" 'BEGIN {
      one = n1 / (b - a); eight = n8 / (c - b)
      cone = cb > ca ? n1 / (cb - ca) : 0; ceight = cc > cb ? n8 / (cc - cb) : 0
      printf "  temperature %s: 1 stream %.1f tokens/s, 8 streams %.1f tokens/s aggregate (%.2fx; cpu %.1f vs %.1f tokens/s, %.2fx)\n",
        t, one, eight, eight / one, cone, ceight, cone ? ceight / cone : 0
      printf "%.4f\n", eight / one > "/dev/stderr" }' 2>>"$T/ratios"
  done
  echo "  temperature $TEMP: median ratio $(sort -n "$T/ratios" | awk '{a[NR]=$1} END {printf "%.2f", (a[int((NR+1)/2)] + a[int(NR/2)+1]) / 2}')x over $ROUNDS round(s)"
done
stop
;; esac
TEMP=0
ours_one=${t0:-0} ours_mid=${t1:-0} ours_end=${t2:-0} ours_n1=${n1:-0} ours_n8=${n8:-0}

# The same against llama-server, when one is given: the parts asked for,
# typing with and without its prompt cache, and one round of 1 and 8
# streams at temperature 0.8, compared by tokens/s with airlock's last
# round at that temperature.
if [ -n "${LLAMA_SERVER:-}" ] && [ -x "$LLAMA_SERVER" ]; then
  lport=$(( 20000 + RANDOM % 20000 ))
  "$LLAMA_SERVER" -m "$T/m.gguf" --host 127.0.0.1 --port "$lport" -np 8 -c 16384 \
    ${BENCH_THREADS:+-t $BENCH_THREADS} >"$T/llama.log" 2>&1 &
  PID=$!
  U="http://127.0.0.1:$lport"
  for _ in $(seq 600); do curl -s "$U/health" 2>/dev/null | grep -q ok && break; sleep 0.1; done
  case " $PARTS " in *" typing "*)
    read -r lw50 lw95 <<<"$(typing)"
    for i in $(seq 0 $((NREQ - 1))); do sed -i 's/}$/,"cache_prompt":false}/' "$T/req$i.json"; done
    read -r lc50 lc95 <<<"$(typing)"
    echo "llama-server: TTFT p50 warm ${lw50} ms, cold ${lc50} ms"
    echo "  airlock / llama-server TTFT p50: warm $(ratio "${w50:--}" "$lw50"), cold $(ratio "${c50:--}" "$lc50")"
  ;; esac
  case " $PARTS " in *" streams "*)
    TEMP=0.8
    streams
    awk -v a="$ours_one" -v b="$ours_mid" -v c="$ours_end" -v n1="$ours_n1" -v n8="$ours_n8" \
        -v la="$t0" -v lb="$t1" -v lc="$t2" -v l1="$n1" -v l8="$n8" 'BEGIN {
      o1 = n1 / (b - a); o8 = n8 / (c - b); m1 = l1 / (lb - la); m8 = l8 / (lc - lb)
      printf "llama-server: 1 stream %.1f tokens/s, 8 streams %.1f tokens/s aggregate (%.2fx)\n", m1, m8, m1 ? m8 / m1 : 0
      printf "  airlock / llama-server tokens/s at temperature 0.8: 1 stream %.2f, 8 streams %.2f\n",
        m1 ? o1 / m1 : 0, m8 ? o8 / m8 : 0 }'
  ;; esac
  stop
fi
