#!/usr/bin/env bash
# `airlock serve` without a model file but with an indexed repository: the
# index model answers completions and /infill from the n-gram index of the
# indexed code (and says so in /v1/models), chat is refused with a clear
# error, and POST /v1/context returns the definition the cursor needs.
set -u
A=${AIRLOCK:?AIRLOCK must name the airlock binary}
T=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$T/err" ] && grep -v server.request "$T/err" | tail -n 5; exit 1; }
command -v curl >/dev/null || { echo "curl is not installed"; exit 77; }
export AIRLOCK_DATA="$T/data" AIRLOCK_LOG_LEVEL=warn

mkdir -p "$T/repo"
printf 'int add(int a, int b)\n{\n\treturn a + b;\n}\n\nint sub(int a, int b)\n{\n\treturn a - b;\n}\n' > "$T/repo/math.c"
printf '#include "math.h"\n\nint twice(int x)\n{\n\treturn add(x, x);\n}\n' > "$T/repo/main.c"
"$A" index "$T/repo" --name demo >/dev/null 2>&1 || fail "index"
"$A" user add dev >/dev/null || fail "user add"
TOK=$("$A" token create --user dev 2>/dev/null) || fail token

: > "$T/out"
"$A" serve --allow-unsandboxed --listen 127.0.0.1:0 >"$T/out" 2>"$T/err" &
PID=$!
for _ in $(seq 400); do grep -q serving "$T/out" 2>/dev/null && break; sleep 0.05; done
grep -q "index model" "$T/out" || fail "start line: $(cat "$T/out")"
U="http://127.0.0.1:$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/out")"
post() { curl -s -N -H "Authorization: Bearer $TOK" -d "$2" "$U$1"; }

curl -s -H "Authorization: Bearer $TOK" "$U/v1/models" > "$T/models"
grep -q '"id":"airlock-index"' "$T/models" || fail "models: $(cat "$T/models")"
grep -q '"kind":"index-ngram"' "$T/models" || fail "models kind"
curl -s "$U/readyz" | grep -q '"ready"' || fail readyz

post /v1/completions '{"prompt":"int sub(int a, int b)\n{\n\treturn a ","max_tokens":10}' > "$T/c"
grep -q '"model":"airlock-index"' "$T/c" || fail "completion model: $(cat "$T/c")"
grep -q '"text":"- b;"' "$T/c" || fail "completion text: $(cat "$T/c")"
post /infill '{"input_prefix":"int add(int a, int b)\n{\n\treturn a","n_predict":8,"stream":true}' > "$T/i"
grep -q '^data: {"content":" + b;","stop":true' "$T/i" || fail "infill stream: $(cat "$T/i")"
post /v1/completions '{"prompt":"int add(","max_tokens":8,"stream":true}' > "$T/s"
tail -c 20 "$T/s" | grep -q 'data: \[DONE\]' || fail "completion stream end: $(cat "$T/s")"
post /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}]}' > "$T/chat"
grep -q '"code":"unsupported"' "$T/chat" || fail "chat on the index model: $(cat "$T/chat")"

post /v1/context '{"repo":"demo","path":"main.c","prefix":"int twice(int x)\n{\n\treturn add(","top_k":3}' > "$T/ctx"
grep -q '"path": *"math.c"' "$T/ctx" || fail "context: $(cat "$T/ctx")"
grep -q '"name": *"add"' "$T/ctx" || fail "context hit name: $(cat "$T/ctx")"
grep -q '"path": *"main.c"' "$T/ctx" && fail "context returned the file being edited"
post /v1/context '{"repo":"demo"}' | grep -q '"param":"prefix"' || fail "context without prefix"
kill "$PID"; wait "$PID"; PID=
"$A" audit query | grep -c ' request ' | grep -q '^[3-9]' || fail "index model answers are not audited"
echo ok
