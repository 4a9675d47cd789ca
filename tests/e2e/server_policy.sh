#!/usr/bin/env bash
# Governance in the server, on the index model (no model file needed): a
# prompt that breaks a block rule is refused before any model sees it, an
# answer that would break it is withheld, the refusals name the rule and
# are in the audit log, and POST /v1/policy/check reports secrets.
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
cat > "$T/bundle/org.yaml" <<'YAML'
rules:
  - id: no-strcpy
    kind: pattern
    literal: strcpy
    identifier: true
    action: block
    message: use a bounded copy
YAML
"$A" policy lint "$T/bundle" >/dev/null 2>&1 || fail "bundle does not lint: $("$A" policy lint "$T/bundle" 2>&1)"
"$A" index "$T/repo" --name demo >/dev/null 2>&1 || fail index
"$A" user add dev >/dev/null || fail "user add"
TOK=$("$A" token create --user dev 2>/dev/null) || fail token

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
kill "$PID"; wait "$PID"; PID=
"$A" audit export --format jsonl | grep -q '"status":"blocked"' || fail "the withheld answer is not audited as blocked"
echo ok
