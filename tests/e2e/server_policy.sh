#!/usr/bin/env bash
# Governance in the server, on the index model (no model file needed): a
# prompt that breaks a block rule is refused before any model sees it, an
# answer that would break it is withheld, the refusals name the rule and
# are in the audit log, and POST /v1/policy/check reports secrets; a
# streamed answer is checked line by line (a block rule ends the stream with
# an error event naming it); a provenance rule over a corpus built with
# `airlock provenance index` withholds a copied answer. With the shared
# vocabularies: on a synthetic model, a banned literal the model writes
# unguarded never appears under the token guard (whole and streamed), and
# the audit records carry the model file's SHA-256.
set -u
A=${AIRLOCK:?AIRLOCK must name the airlock binary}
T=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$T/err" ] && grep -v server.request "$T/err" | tail -n 5; exit 1; }
command -v curl >/dev/null || { echo "curl is not installed"; exit 77; }
export AIRLOCK_DATA="$T/data" AIRLOCK_LOG_LEVEL=warn

mkdir -p "$T/repo" "$T/bundle"
printf 'void copy(char *dst, const char *src)\n{\n\tstrcpy(dst, src);\n}\n' > "$T/repo/copy.c"
printf 'int thrice(int x)\n{\n\treturn x + x + x - x + x;\n}\n' > "$T/repo/thrice.c"
mkdir -p "$T/gpl"
cp "$T/repo/thrice.c" "$T/gpl/thrice.c"
cat > "$T/bundle/org.yaml" <<'YAML'
rules:
  - id: no-strcpy
    kind: pattern
    literal: strcpy
    identifier: true
    action: block
    message: use a bounded copy
  - id: no-gpl
    kind: provenance
    corpus: gpl
    min_chars: 15
    action: block
YAML
"$A" policy lint "$T/bundle" >/dev/null 2>&1 || fail "bundle does not lint: $("$A" policy lint "$T/bundle" 2>&1)"
"$A" index "$T/repo" --name demo >/dev/null 2>&1 || fail index
"$A" user add dev >/dev/null || fail "user add"
TOK=$("$A" token create --user dev 2>/dev/null) || fail token
"$A" provenance index --name gpl --licence GPL-3.0-only "$T/gpl" >/dev/null 2>&1 || fail "provenance index"

: > "$T/out"
AIRLOCK_POLICY_BUNDLE="$T/bundle" "$A" serve --allow-unsandboxed --listen 127.0.0.1:0 >"$T/out" 2>"$T/err" &
PID=$!
for _ in $(seq 400); do grep -q serving "$T/out" 2>/dev/null && break; sleep 0.05; done
U="http://127.0.0.1:$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/out")"
post() { curl -s -w '\n%{http_code}' -H "Authorization: Bearer $TOK" -d "$2" "$U$1"; }

post /v1/completions '{"prompt":"use strcpy(a, b) here","max_tokens":5}' > "$T/p"
tail -n 1 "$T/p" | grep -q 403 || fail "prompt with a blocked literal: $(cat "$T/p")"
grep -q 'no-strcpy' "$T/p" || fail "refusal does not name the rule: $(cat "$T/p")"

post /v1/completions '{"prompt":"void copy(char *dst, const char *src)\n{\n\t","max_tokens":10}' > "$T/o"
tail -n 1 "$T/o" | grep -q 403 || fail "answer with a blocked literal was returned: $(cat "$T/o")"
grep -q 'withheld by policy rule no-strcpy' "$T/o" || fail "withheld message: $(cat "$T/o")"

post /v1/completions '{"prompt":"void copy(char *dst, const char *src)\n{\n\tstr","max_tokens":2}' > "$T/ok"
post /v1/policy/check '{"text":"key = \"ghp_R7x2Kq9LmZ4vT8wB3nJ6pY1cF5hD0sGaE2uW\"\n","path":"config.py"}' > "$T/chk"
tail -n 1 "$T/chk" | grep -q 200 || fail "policy check: $(cat "$T/chk")"
grep -q '"action":"redact"' "$T/chk" || fail "policy check found no secret: $(cat "$T/chk")"
grep -q 'ghp_R7x2' "$T/chk" && fail "the policy check echoed the secret"
# A prompt carrying a secret is redacted, not refused: the request goes on.
post /v1/completions '{"prompt":"token = \"ghp_R7x2Kq9LmZ4vT8wB3nJ6pY1cF5hD0sGaE2uW\"\nvoid copy(","max_tokens":3}' > "$T/red"
tail -n 1 "$T/red" | grep -q 200 || fail "prompt with a secret: $(cat "$T/red")"
# Streamed: the line with the blocked literal is never sent; an error
# event names the rule.
curl -s -N -H "Authorization: Bearer $TOK" -d '{"prompt":"void copy(char *dst, const char *src)\n{\n\t","max_tokens":10,"stream":true}' "$U/v1/completions" > "$T/s"
grep -q '"error"' "$T/s" || fail "streamed answer with a blocked literal: no error event: $(cat "$T/s")"
grep -q 'no-strcpy' "$T/s" || fail "stream error does not name the rule: $(cat "$T/s")"
grep -q 'strcpy(' "$T/s" && fail "the blocked line was streamed: $(cat "$T/s")"
# Provenance: an answer copied from the corpus is withheld, whole or streamed.
post /v1/completions '{"prompt":"int thrice(int x)\n{\n\t","max_tokens":20}' > "$T/g"
tail -n 1 "$T/g" | grep -q 403 || fail "answer copied from the corpus was returned: $(cat "$T/g")"
grep -q 'no-gpl' "$T/g" || fail "provenance refusal does not name the rule: $(cat "$T/g")"
curl -s -N -H "Authorization: Bearer $TOK" -d '{"prompt":"int thrice(int x)\n{\n\t","max_tokens":20,"stream":true}' "$U/v1/completions" > "$T/gs"
grep -q 'no-gpl' "$T/gs" || fail "streamed copy not stopped by provenance: $(cat "$T/gs")"
grep -q 'x + x' "$T/gs" && fail "the copied line was streamed: $(cat "$T/gs")"
kill "$PID"; wait "$PID"; PID=
"$A" audit export --format jsonl | grep -q '"status":"blocked"' || fail "the withheld answer is not audited as blocked"

# The token guard on a real model (synthetic weights, a real tokenizer).
S=${AIRLOCK_SHARED:-$(cd "$(dirname "$0")/../../.." && pwd)/shared}
V="$S/vocab/ggml-vocab-deepseek-coder.gguf"
if [ ! -f "$V" ] || ! command -v python3 >/dev/null; then
  echo "ok (guard on a model skipped: shared vocabularies or python3 absent)"
  exit 0
fi
export AIRLOCK_SERVER_THREADS=1 AIRLOCK_MODEL_N_CTX=256 AIRLOCK_SERVER_SLOTS=2
"$A" model synth --arch llama --layers 1 --dim 32 --heads 2 --ffn 64 --seed 3 \
  --vocab-from "$V" -o "$T/m.gguf" >/dev/null || fail "model synth"
serve_model() {
  : > "$T/out"
  "$A" serve --allow-unsandboxed --model "$T/m.gguf" --listen 127.0.0.1:0 >"$T/out" 2>"$T/err" &
  PID=$!
  for _ in $(seq 600); do grep -q serving "$T/out" 2>/dev/null && break; sleep 0.05; done
  U="http://127.0.0.1:$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/out")"
}
text_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["choices"][0]["text"], end="")' "$1"; }
REQ='{"prompt":"int main(void)\n{\n","max_tokens":40,"temperature":0}'
AIRLOCK_POLICY_BUNDLE= serve_model
curl -s -H "Authorization: Bearer $TOK" -d "$REQ" "$U/v1/completions" > "$T/m0"
kill "$PID"; wait "$PID"; PID=
text_of "$T/m0" > "$T/plain" || fail "unguarded answer: $(cat "$T/m0")"
# A 3-byte literal of the unguarded answer (printable, no quote or backslash).
LIT=$(python3 - "$T/plain" <<'PY'
import sys
t = open(sys.argv[1], encoding="utf-8", errors="replace").read()
for i in range(len(t) - 2):
    w = t[i:i + 3]
    if all(c.isascii() and c.isprintable() and c not in "'\"\\" for c in w) and w.strip() == w:
        print(w, end=""); break
PY
)
: "guard literal: $LIT"
[ -n "$LIT" ] || fail "no usable literal in the unguarded answer: $(cat "$T/plain")"
mkdir -p "$T/b2"
printf "rules:\n  - id: ban-lit\n    kind: pattern\n    literal: '%s'\n    action: block\n" "$LIT" > "$T/b2/org.yaml"
AIRLOCK_POLICY_BUNDLE="$T/b2" serve_model
curl -s -H "Authorization: Bearer $TOK" -d "$REQ" "$U/v1/completions" > "$T/m1"
curl -s -N -H "Authorization: Bearer $TOK" -d "${REQ%\}},\"stream\":true}" "$U/v1/completions" > "$T/m2"
kill "$PID"; wait "$PID"; PID=
grep -q '"choices"' "$T/m1" || fail "guarded answer: $(cat "$T/m1")"
text_of "$T/m1" > "$T/guarded"
grep -qF -- "$LIT" "$T/guarded" && fail "banned literal '$LIT' in the guarded answer: $(cat "$T/guarded")"
python3 - "$T/m2" "$LIT" <<'PY' || fail "streamed guarded answer: $(cat "$T/m2")"
import json, sys
raw = open(sys.argv[1]).read()
text = ""
for e in raw.split("\n\n"):
    if e.startswith("data: ") and e[6:] != "[DONE]":
        o = json.loads(e[6:])
        assert "error" not in o, o
        for c in o.get("choices", []):
            text += c.get("text") or ""
assert sys.argv[2] not in text, text
PY
SUM=$(sha256sum "$T/m.gguf" | cut -d' ' -f1)
"$A" audit export --format jsonl | grep -q "\"model_sha256\":\"$SUM\"" || fail "audit records lack the model's SHA-256 ($SUM)"
echo ok
