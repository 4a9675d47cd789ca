#!/usr/bin/env bash
# Reloading the policy bundle of a running `airlock serve`: SIGHUP and
# POST /v1/admin/policy/reload. A broken bundle is refused with
# file:line:column and the old rules stay active; a good one takes over;
# every attempt is an admin record in the audit log.
set -u
A=${AIRLOCK:?AIRLOCK must name the airlock binary}
T=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$T/err" ] && grep -v server.request "$T/err" | tail -n 5; exit 1; }
command -v curl >/dev/null || { echo "curl is not installed"; exit 77; }
export AIRLOCK_DATA="$T/data" AIRLOCK_LOG_LEVEL=warn

mkdir -p "$T/bundle"
rule() { printf 'rules:\n  - id: no-%s\n    kind: pattern\n    literal: %s\n    action: block\n' "$1" "$1" > "$T/bundle/org.yaml"; }
rule alphaword
"$A" team add core >/dev/null || fail "team add"
"$A" user add alice --team core --role admin >/dev/null || fail "user add"
"$A" user add bob >/dev/null || fail "user add bob"
ADMIN=$("$A" token create --user alice 2>/dev/null) || fail "token"
BOB=$("$A" token create --user bob 2>/dev/null) || fail "token bob"

AIRLOCK_LOG_LEVEL=info AIRLOCK_POLICY_BUNDLE="$T/bundle" "$A" serve --allow-unsandboxed --listen 127.0.0.1:0 >"$T/out" 2>"$T/err" &
PID=$!
for _ in $(seq 400); do grep -q serving "$T/out" 2>/dev/null && break; sleep 0.05; done
U="http://127.0.0.1:$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/out")"
code() { curl -s -o "$T/body" -w '%{http_code}' "$@"; }
# worst WORD: the worst action /v1/policy/check finds for a text with WORD.
worst() {
  code -H "Authorization: Bearer $BOB" -d "{\"text\":\"say $1 now\"}" "$U/v1/policy/check" >/dev/null
  sed -n 's/.*"worst": *"\([a-z]*\)".*/\1/p' "$T/body"
}
# Waits for the n-th policy reload line in the server log.
wait_reload() { for _ in $(seq 200); do [ "$(grep -c server.policy_reload "$T/err")" -ge "$1" ] && return 0; sleep 0.05; done; fail "no reload logged"; }

[ "$(worst alphaword)" = block ] || fail "alphaword not blocked at start: $(cat "$T/body")"

# Broken on disk, SIGHUP: the log names file and line; old rules stay.
printf 'rules:\n  - id: no-beta\n    kind: [pattern\n' > "$T/bundle/org.yaml"
kill -HUP "$PID"
wait_reload 1
grep server.policy_reload "$T/err" | grep -q "$T/bundle/org.yaml:[0-9]*:[0-9]*" || fail "reload log lacks file:line:col: $(grep policy_reload "$T/err")"
kill -0 "$PID" || fail "server died on SIGHUP"
[ "$(worst alphaword)" = block ] || fail "old rules dropped after a failed reload"

# Same over HTTP: 422 naming the file; members may not reload.
[ "$(code -X POST -H "Authorization: Bearer $BOB" "$U/v1/admin/policy/reload")" = 403 ] || fail "member reload"
[ "$(code -X POST -H "Authorization: Bearer $ADMIN" "$U/v1/admin/policy/reload")" = 422 ] || fail "broken reload over HTTP: $(cat "$T/body")"
grep -q "org.yaml:[0-9]*:[0-9]*" "$T/body" || fail "422 does not name file:line:col: $(cat "$T/body")"

# A good bundle by SIGHUP, then by HTTP.
rule betaword
kill -HUP "$PID"
wait_reload 3
[ "$(worst betaword)" = block ] || fail "new rule not active after SIGHUP"
[ "$(worst alphaword)" != block ] || fail "old rule still active after SIGHUP"
rule gammaword
[ "$(code -X POST -H "Authorization: Bearer $ADMIN" "$U/v1/admin/policy/reload")" = 200 ] || fail "reload over HTTP: $(cat "$T/body")"
grep -q '"reloaded": *true' "$T/body" || fail "reload body: $(cat "$T/body")"
[ "$(worst gammaword)" = block ] || fail "new rule not active after HTTP reload"

# Every attempt is audited (two failed, two good).
kill "$PID"; wait "$PID" 2>/dev/null; PID=
"$A" audit query --action policy.reload > "$T/audit" || fail "audit query"
[ "$(grep -c policy.reload "$T/audit")" = 4 ] || fail "audit has $(grep -c policy.reload "$T/audit") reload records: $(cat "$T/audit")"
exit 0
