#!/usr/bin/env bash
# The audit log over HTTP: `airlock serve` answers the admin audit routes
# (verify, records, proof, consistency, checkpoint) for admins only, and the
# checkpoint it serves is the one `airlock audit checkpoint` prints.
set -u
A=${AIRLOCK:?AIRLOCK must name the airlock binary}
T=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$T/err" ] && tail -n 5 "$T/err"; exit 1; }
command -v curl >/dev/null || { echo "curl is not installed"; exit 77; }
export AIRLOCK_DATA="$T/data" AIRLOCK_LOG_LEVEL=warn
# A checkpoint after every record, so proofs cover everything at once.
export AIRLOCK_AUDIT_CHECKPOINT_EVERY=1

"$A" team add core >/dev/null || fail "team add"
"$A" user add alice --team core --role admin >/dev/null || fail "user add alice"
"$A" user add bob >/dev/null || fail "user add bob"
ADMIN=$("$A" token create --user alice 2>/dev/null) || fail "token create"
BOB=$("$A" token create --user bob 2>/dev/null) || fail "token create bob"

"$A" serve --allow-unsandboxed --listen 127.0.0.1:0 >"$T/out" 2>"$T/err" &
PID=$!
for _ in $(seq 400); do grep -q "serving" "$T/out" 2>/dev/null && break; sleep 0.05; done
PORT=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/out")
[ -n "$PORT" ] || fail "no port in: $(cat "$T/out")"
U="http://127.0.0.1:$PORT"
code() { curl -s -o "$T/body" -w '%{http_code}' "$@"; }
AH=(-H "Authorization: Bearer $ADMIN")

[ "$(code "${AH[@]}" -d '{"name":"web"}' "$U/v1/admin/teams")" = 201 ] || fail "team add over HTTP"
[ "$(code "$U/v1/admin/audit/verify")" = 401 ] || fail "verify without token"
[ "$(code -H "Authorization: Bearer $BOB" "$U/v1/admin/audit/verify")" = 403 ] || fail "verify as member"
grep -q '"code":"forbidden"' "$T/body" || fail "403 shape: $(cat "$T/body")"
[ "$(code "${AH[@]}" "$U/v1/admin/audit/verify")" = 200 ] || fail "verify: $(cat "$T/body")"
grep -q '"ok": *true' "$T/body" || fail "verify not ok: $(cat "$T/body")"
[ "$(code "${AH[@]}" "$U/v1/admin/audit/records?action=team.create")" = 200 ] || fail "records"
[ "$(grep -c '"team.create"' "$T/body")" = 2 ] || fail "records: $(cat "$T/body")"
[ "$(code "${AH[@]}" "$U/v1/admin/audit/records?limit=2")" = 200 ] || fail "records limit"
[ "$(wc -l < "$T/body")" = 2 ] || fail "limit=2 gave $(wc -l < "$T/body") lines"
[ "$(code "${AH[@]}" "$U/v1/admin/audit/records?since=last-week")" = 400 ] || fail "bad since"
grep -q '"param": *"since"' "$T/body" || fail "bad since param: $(cat "$T/body")"
[ "$(code "${AH[@]}" "$U/v1/admin/audit/proof/0")" = 200 ] || fail "proof: $(cat "$T/body")"
grep -q '"leafIdx": *0' "$T/body" || fail "proof body: $(cat "$T/body")"
[ "$(code "${AH[@]}" "$U/v1/admin/audit/consistency?old=1&new=2")" = 200 ] || fail "consistency: $(cat "$T/body")"
grep -q '"size2": *2' "$T/body" || fail "consistency body: $(cat "$T/body")"
[ "$(code "${AH[@]}" "$U/v1/admin/audit/consistency?old=2")" = 400 ] || fail "consistency without new"
[ "$(code "${AH[@]}" "$U/v1/admin/audit/checkpoint")" = 200 ] || fail "checkpoint: $(cat "$T/body")"
"$A" audit checkpoint > "$T/cli_cp" 2>/dev/null || fail "audit checkpoint while serving"
cmp -s "$T/body" "$T/cli_cp" || fail "HTTP and CLI checkpoints differ"
exit 0
