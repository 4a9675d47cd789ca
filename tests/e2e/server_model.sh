#!/usr/bin/env bash
# `airlock serve` on synthetic models (random weights, real tokenizers from
# ../shared/vocab), driven with curl: OpenAI completions whole and streamed
# (same greedy text, exact SSE framing), llama.cpp /infill streaming, chat
# with a template and a clear error without one, concurrent streams that
# stay complete and independent (the same greedy request gives the same
# text alone or among others), a client that hangs up mid-stream freeing
# its slot, and a prompt over the context refused with the numbers.
set -u
A=${AIRLOCK:?AIRLOCK must name the airlock binary}
S=${AIRLOCK_SHARED:-$(cd "$(dirname "$0")/../../.." && pwd)/shared}
T=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$T/err" ] && grep -v server.request "$T/err" | tail -n 5; exit 1; }
command -v curl >/dev/null || { echo "curl is not installed"; exit 77; }
command -v python3 >/dev/null || { echo "python3 is not installed (JSON checks)"; exit 77; }
[ -f "$S/vocab/ggml-vocab-deepseek-coder.gguf" ] || { echo "shared vocabularies absent ($S)"; exit 77; }
export AIRLOCK_DATA="$T/data" AIRLOCK_LOG_LEVEL=warn AIRLOCK_SERVER_THREADS=1 \
  AIRLOCK_MODEL_N_CTX=512 AIRLOCK_SERVER_SLOTS=4

"$A" model synth --arch llama --layers 2 --dim 64 --heads 4 --ffn 128 --seed 1 \
  --vocab-from "$S/vocab/ggml-vocab-deepseek-coder.gguf" -o "$T/ds.gguf" >/dev/null || fail "synth ds"
"$A" model synth --arch qwen2 --layers 2 --dim 32 --heads 4 --kv-heads 2 --ffn 64 --seed 2 \
  --vocab-from "$S/vocab/ggml-vocab-qwen2.gguf" -o "$T/qw.gguf" >/dev/null || fail "synth qw"
"$A" user add dev --role admin >/dev/null || fail "user add"
# A repository for retrieval: FIM requests naming it get its code as context.
mkdir -p "$T/repo"
printf 'int scale(int x, int k)\n{\n\treturn x * k;\n}\n' > "$T/repo/util.c"
"$A" index "$T/repo" --name demo >/dev/null 2>&1 || fail "index"
TOK=$("$A" token create --user dev 2>/dev/null) || fail "token"

start() {
  : > "$T/out"  # empty before the server starts: the wait below reads it
  "$A" serve --allow-unsandboxed --model "$1" --listen 127.0.0.1:0 >"$T/out" 2>"$T/err" &
  PID=$!
  for _ in $(seq 400); do grep -q "serving" "$T/out" 2>/dev/null && break; sleep 0.05; done
  PORT=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/out")
  [ -n "$PORT" ] || fail "no port in: $(cat "$T/out")"
  U="http://127.0.0.1:$PORT"
}
stop() { kill "$PID"; wait "$PID"; PID=; }
post() { curl -s -N -H "Authorization: Bearer $TOK" -H "Content-Type: application/json" -d "$2" "$U$1"; }
# One Python run checks every saved response at the end (its start-up is
# slow on a loaded machine): check.py KIND FILE... where KIND is whole,
# openai, chat or infill; it prints each file's text, one per line, escaped.
cat > "$T/check.py" <<'PY'
import json, sys
def sse(raw, kind):
    assert raw.endswith("\n\n"), "stream does not end with a blank line"
    events = raw[:-2].split("\n\n")
    for e in events:
        assert e.startswith("data: ") and "\n" not in e, "bad event %r" % e[:60]
    data = [e[6:] for e in events]
    if kind == "infill":
        assert data[-1] != "[DONE]", "llama.cpp streams end without [DONE]"
        objs = [json.loads(d) for d in data]
        assert objs[-1]["stop"] is True and all(o["stop"] is False for o in objs[:-1])
        return "".join(o["content"] for o in objs)
    assert data[-1] == "[DONE]", "no [DONE] at the end"
    objs = [json.loads(d) for d in data[:-1]]
    assert objs[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    if kind == "chat":
        assert objs[0]["choices"][0]["delta"].get("role") == "assistant"
        return "".join(o["choices"][0]["delta"].get("content", "") for o in objs)
    return "".join(o["choices"][0]["text"] for o in objs)
def whole(raw):
    d = json.loads(raw)
    c = d["choices"][0]
    u = d["usage"]
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    return c["message"]["content"] if d["object"] == "chat.completion" else c["text"]
kind = sys.argv[1]
for f in sys.argv[2:]:
    raw = open(f, encoding="utf-8").read()
    try:
        text = whole(raw) if kind == "whole" else sse(raw, kind)
    except Exception as ex:
        sys.exit("%s: %s: %s" % (f, ex, raw[:200]))
    print(json.dumps(text))
PY
check() { python3 "$T/check.py" "$@"; }

# --- a FIM model (DeepSeek-Coder tokenizer) -------------------------------
start "$T/ds.gguf"
curl -s -H "Authorization: Bearer $TOK" "$U/v1/models" | grep -q '"id":"ds.gguf"' || fail "models"
curl -s "$U/readyz" | grep -q '"ready"' || fail readyz

REQ='{"prompt":"def fib(n):\n    if n < 2:\n        return n\n","max_tokens":24,"temperature":0}'
post /v1/completions "$REQ" > "$T/whole"
grep -q '"completion_tokens":24' "$T/whole" || fail "usage: $(cat "$T/whole")"
post /v1/completions "${REQ%\}},\"stream\":true}" > "$T/stream"
# Sampled with a seed: as reproducible as greedy, and more varied text.
REQ2='{"prompt":"class Stack:\n","max_tokens":32,"temperature":1,"seed":42}'
post /v1/completions "$REQ2" > "$T/whole2"
post /v1/completions '{"prompt":"int add(int a, int b) {","suffix":"}\n","max_tokens":8,"temperature":0}' \
  | grep -q '"finish_reason"' || fail "completion with suffix (FIM)"
post /infill '{"input_prefix":"def add(a, b):\n    ","input_suffix":"\n","input_extra":[{"filename":"util.py","text":"def sub(a, b):\n    return a - b\n"}],"n_predict":12,"stream":true}' \
  > "$T/infill"
post /infill '{"input_prefix":"x = ","n_predict":5}' | grep -q '"tokens_predicted":5' || fail "infill whole"
# Retrieval: naming the repository adds its matching code to the FIM prompt.
post /infill '{"input_prefix":"int twice(int x)\n{\n\treturn scale(","input_suffix":"\n}\n","n_predict":2,"temperature":0}' > "$T/plain"
post /infill '{"input_prefix":"int twice(int x)\n{\n\treturn scale(","input_suffix":"\n}\n","n_predict":2,"temperature":0,"repo":"demo","path":"main.c"}' > "$T/rag"
pe=$(sed -n 's/.*"tokens_evaluated":\([0-9]*\).*/\1/p' "$T/plain")
re=$(sed -n 's/.*"tokens_evaluated":\([0-9]*\).*/\1/p' "$T/rag")
[ -n "$pe" ] && [ -n "$re" ] && [ "$re" -gt $((pe + 5)) ] || fail "retrieval added no context: $pe vs $re tokens"
post /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}]}' > "$T/chat"
grep -q '"code":"unsupported"' "$T/chat" || fail "chat without a template: $(cat "$T/chat")"
grep -q 'chat template' "$T/chat" || fail "chat error should name the template: $(cat "$T/chat")"
LONG=$(printf 'x = 1\\n%.0s' $(seq 400))
post /v1/completions "{\"prompt\":\"$LONG\"}" > "$T/long"
grep -q '"code":"context_length_exceeded"' "$T/long" || fail "long prompt: $(head -c 300 "$T/long")"
grep -q 'holds 512' "$T/long" || fail "long prompt numbers: $(cat "$T/long")"

# Concurrency: 7 streams at once over 4 slots; all complete; the repeated
# greedy and seeded requests give the text they gave alone.
pids=
for i in 1 2 3 4 5; do
  post /v1/completions "{\"prompt\":\"# file $i\\nimport os\\n\",\"max_tokens\":40,\"stream\":true,\"seed\":$i}" > "$T/par$i" &
  pids="$pids $!"
done
post /v1/completions "${REQ%\}},\"stream\":true}" > "$T/par0" &
pids="$pids $!"
post /v1/completions "${REQ2%\}},\"stream\":true}" > "$T/par6" &
pids="$pids $!"
for p in $pids; do wait "$p"; done

# A client that hangs up mid-stream frees its slot: the client is killed
# while its request is being generated. A tiny model generates fast, so
# the kill may come after the end; try a few times.
for _attempt in 1 2 3 4 5; do
  curl -q -s -N --max-time 30 -H "Authorization: Bearer $TOK" \
    -d '{"prompt":"while True:","max_tokens":480,"stream":true}' "$U/v1/completions" >/dev/null &
  cpid=$!
  for _ in $(seq 200); do
    curl -q -s -H "Authorization: Bearer $TOK" "$U/v1/status" > "$T/status"
    grep -q '"slots_busy":0' "$T/status" || break
    sleep 0.005
  done
  kill -9 "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null
  for _ in $(seq 100); do
    curl -q -s -H "Authorization: Bearer $TOK" "$U/v1/status" > "$T/status"
    grep -q '"slots_busy":0' "$T/status" && break
    sleep 0.1
  done
  grep -q '"slots_busy":0' "$T/status" || fail "slot still busy: $(cat "$T/status")"
  grep -q '"requests_cancelled":0,' "$T/status" || break
done
grep -q '"requests_cancelled":0,' "$T/status" && fail "no cancellation counted: $(cat "$T/status")"

# Metrics and usage of what was served.
curl -s -H "Authorization: Bearer $TOK" "$U/metrics" > "$T/metrics"
grep -q '^airlock_http_requests_total{endpoint="/v1/completions",code="200"} ' "$T/metrics" || fail "metrics: $(head -c 300 "$T/metrics")"
grep -q '^airlock_tokens_total{model="ds.gguf",kind="output"} ' "$T/metrics" || fail "token metrics"
RID=$(curl -s -D - -o /dev/null -H "Authorization: Bearer $TOK" -d '{"prompt":"x","max_tokens":2}' "$U/v1/completions" | sed -n 's/^X-Request-Id: \(req_[0-9a-f]*\).*/\1/p')
[ -n "$RID" ] || fail "no X-Request-Id"
post /v1/events "{\"request_id\":\"$RID\",\"event\":\"shown\"}" | grep -q recorded || fail "event shown"
post /v1/events "{\"request_id\":\"$RID\",\"event\":\"accepted\"}" | grep -q recorded || fail "event accepted"

check whole "$T/whole" "$T/whole2" > "$T/t.whole" || fail "whole response"
check openai "$T/stream" "$T/par0" "$T/par6" "$T/par1" "$T/par2" "$T/par3" "$T/par4" "$T/par5" > "$T/t.streams" \
  || fail "stream framing"
check infill "$T/infill" >/dev/null || fail "infill stream framing"
W=$(sed -n 1p "$T/t.whole")
[ "$(sed -n 1p "$T/t.streams")" = "$W" ] || fail "streamed text differs from the whole response"
[ "$(sed -n 2p "$T/t.streams")" = "$W" ] || fail "batched greedy output differs from alone"
[ "$(sed -n 3p "$T/t.streams")" = "$(sed -n 2p "$T/t.whole")" ] || fail "batched seeded output differs from alone"
stop
"$A" usage > "$T/usage" 2>&1 || fail "usage: $(cat "$T/usage")"
grep -q '^acceptance *100.0% (1 shown: 1 accepted' "$T/usage" || fail "usage: $(cat "$T/usage")"
# Every generation is in the audit log, and the log verifies.
"$A" audit verify > "$T/verify" 2>&1 || fail "audit verify: $(cat "$T/verify")"
n=$("$A" audit query | grep -c ' request ')
[ "$n" -ge 10 ] || fail "audit has $n request records: $("$A" audit query | tail -3)"

# --- a chat model (Qwen2 tokenizer, ChatML template) -----------------------
start "$T/qw.gguf"
CHAT='{"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hi"}],"max_tokens":16,"temperature":0}'
post /v1/chat/completions "$CHAT" > "$T/c1"
grep -q '"object":"chat.completion"' "$T/c1" || fail "chat: $(cat "$T/c1")"
post /v1/chat/completions "${CHAT%\}},\"stream\":true}" > "$T/c2"
[ "$(check whole "$T/c1")" = "$(check chat "$T/c2")" ] || fail "chat streamed text differs"
stop
echo ok
