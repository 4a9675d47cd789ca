#!/usr/bin/env bash
# The server as an operator and a client meet it, without a model: identity
# commands, `airlock serve` on a free loopback port, authentication (401,
# 403), limits (413), the no-model error, admin routes, revocation taking
# effect at once, and HTTPS when a certificate is configured.
set -u
A=${AIRLOCK:?AIRLOCK must name the airlock binary}
T=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$T/err" ] && tail -n 5 "$T/err"; exit 1; }
command -v curl >/dev/null || { echo "curl is not installed"; exit 77; }
export AIRLOCK_DATA="$T/data" AIRLOCK_LOG_LEVEL=warn

# Identity from the command line.
"$A" team add core >/dev/null || fail "team add"
"$A" team add core 2>"$T/e"; [ $? -eq 4 ] || fail "team add twice: want exit 4"
grep -q "already exists" "$T/e" || fail "team add twice message"
"$A" user add alice --team core --role admin >/dev/null || fail "user add alice"
"$A" user add bob >/dev/null || fail "user add bob"
"$A" user add carol --role wizard 2>"$T/e"; [ $? -eq 2 ] || fail "bad role exit"
"$A" user add dave --team nosuch 2>"$T/e"; [ $? -ne 0 ] || fail "unknown team accepted"
"$A" user list | grep -q "^1 *alice *core *admin" || fail "user list"
ADMIN=$("$A" token create --user alice --expires 30d 2>/dev/null) || fail "token create"
BOB=$("$A" token create --user bob 2>/dev/null) || fail "token create bob"
[ ${#ADMIN} -eq 68 ] || fail "token length ${#ADMIN}"
"$A" token list > "$T/list"
grep -q "${ADMIN:0:12}" "$T/list" || fail "token list prefix"
grep -q "${ADMIN:20:20}" "$T/list" && fail "token list shows the secret"
"$A" token create --user nobody 2>/dev/null && fail "token for unknown user"
"$A" token create --user bob --expires soon 2>/dev/null; [ $? -eq 2 ] || fail "bad --expires"

# Identity changes are in the audit log.
"$A" audit query > "$T/audit"
for a in team.create user.create token.create; do
  grep -q " $a" "$T/audit" || fail "audit has no $a: $(cat "$T/audit")"
done

# Serve on a free port; the first stdout line names it.
AIRLOCK_SERVER_MAX_BODY=4k "$A" serve --allow-unsandboxed --listen 127.0.0.1:0 >"$T/out" 2>"$T/err" &
PID=$!
for _ in $(seq 400); do grep -q "serving" "$T/out" 2>/dev/null && break; sleep 0.05; done
PORT=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/out")
[ -n "$PORT" ] || fail "no port in: $(cat "$T/out")"
U="http://127.0.0.1:$PORT"
# Where the kernel has seccomp, the server runs under it (locked down
# after binding; --allow-unsandboxed only matters on kernels without it).
if "$A" doctor 2>/dev/null | grep -q '^seccomp *yes'; then
  grep -q '^Seccomp:[[:space:]]*2' "/proc/$PID/status" || fail "serve is not under seccomp"
fi
code() { curl -s -o "$T/body" -w '%{http_code}' "$@"; }

[ "$(code "$U/healthz")" = 200 ] || fail healthz
[ "$(code "$U/readyz")" = 503 ] || fail "readyz without a model"
grep -q "no model loaded" "$T/body" || fail "readyz reason"
[ "$(code "$U/v1/models")" = 401 ] || fail "models without token"
grep -q '"code":"invalid_api_key"' "$T/body" || fail "401 shape: $(cat "$T/body")"
[ "$(code -H "Authorization: Bearer alk_x" "$U/v1/models")" = 401 ] || fail "bad token"
[ "$(code -H "Authorization: Bearer $BOB" "$U/v1/models")" = 200 ] || fail "models"
grep -q '"data":\[\]' "$T/body" || fail "models without a model lists nothing"
[ "$(code -H "Authorization: Bearer $BOB" "$U/v1/admin/users")" = 403 ] || fail "member on admin route"
[ "$(code -H "Authorization: Bearer $ADMIN" "$U/v1/admin/users")" = 200 ] || fail "admin route"
grep -q '"name":"bob"' "$T/body" || fail "admin users list"

# No model: an OpenAI-shaped error, whatever the client sends.
[ "$(code -H "Authorization: Bearer $BOB" -d '{"prompt":"x"}' "$U/v1/completions")" = 503 ] || fail "completion without model"
grep -q '"message":"no model loaded' "$T/body" || fail "no-model message: $(cat "$T/body")"
[ "$(code -H "Authorization: Bearer $BOB" -d '{"messages":[]}' "$U/v1/chat/completions")" = 400 ] || fail "bad chat body"
grep -q '"param":"messages"' "$T/body" || fail "bad chat param"
[ "$(code -H "Authorization: Bearer $BOB" -d '{"prompt":' "$U/v1/completions")" = 400 ] || fail "malformed JSON"
head -c 10000 /dev/zero | tr '\0' a > "$T/big"
[ "$(code -H "Authorization: Bearer $BOB" --data-binary @"$T/big" "$U/v1/completions")" = 413 ] || fail "body limit"

# Admin over HTTP, and revocation from the CLI while serving.
[ "$(code -H "Authorization: Bearer $ADMIN" -d '{"name":"erin"}' "$U/v1/admin/users")" = 201 ] || fail "admin user add"
[ "$(code -H "Authorization: Bearer $ADMIN" -d '{"user":"erin","expires":"1h"}' "$U/v1/admin/tokens")" = 201 ] || fail "admin token create"
ERIN=$(sed -n 's/.*"token":"\(alk_[0-9a-f]*\)".*/\1/p' "$T/body")
[ "$(code -H "Authorization: Bearer $ERIN" "$U/v1/models")" = 200 ] || fail "erin's token"
BOBID=$("$A" token list | awk '$2 == "bob" {print $1; exit}')
"$A" token revoke "$BOBID" >/dev/null 2>"$T/e" || fail "token revoke"
grep -q "not in the audit log" "$T/e" || fail "revoke while serving should warn about the audit log"
[ "$(code -H "Authorization: Bearer $BOB" "$U/v1/models")" = 401 ] || fail "revoked token still works"
grep -q "revoked" "$T/body" || fail "revoked message"
kill "$PID"; wait "$PID"; PID=

# HTTPS with a self-signed certificate.
if command -v openssl >/dev/null; then
  openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -days 1 \
    -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null || fail "openssl"
  : > "$T/out"  # empty before the server starts: the wait below reads it
  AIRLOCK_SERVER_TLS_CERT="$T/cert.pem" AIRLOCK_SERVER_TLS_KEY="$T/key.pem" \
    "$A" serve --allow-unsandboxed --listen 127.0.0.1:0 >"$T/out" 2>"$T/err" &
  PID=$!
  for _ in $(seq 400); do grep -q "serving" "$T/out" 2>/dev/null && break; sleep 0.05; done
  grep -q "https://" "$T/out" || fail "no https line: $(cat "$T/out")"
  PORT=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/out")
  [ "$(code --cacert "$T/cert.pem" "https://127.0.0.1:$PORT/healthz")" = 200 ] || fail "https healthz"
  [ "$(code --cacert "$T/cert.pem" -H "Authorization: Bearer $ADMIN" "https://127.0.0.1:$PORT/v1/models")" = 200 ] || fail "https models"
  [ "$(code "http://127.0.0.1:$PORT/healthz")" = 200 ] && fail "plain HTTP accepted on the TLS port"
  kill "$PID"; wait "$PID"; PID=
fi
# IPv6 loopback, where the machine has it.
if [ -f /proc/net/if_inet6 ] && grep -q "^0\{31\}1 " /proc/net/if_inet6; then
  : > "$T/out"
  "$A" serve --allow-unsandboxed --listen '[::1]:0' >"$T/out" 2>"$T/err" &
  PID=$!
  for _ in $(seq 400); do grep -q "serving" "$T/out" 2>/dev/null && break; sleep 0.05; done
  PORT=$(sed -n 's/.*\]:\([0-9]*\)$/\1/p' "$T/out")
  [ -n "$PORT" ] || fail "no IPv6 port in: $(cat "$T/out")"
  [ "$(code -g "http://[::1]:$PORT/healthz")" = 200 ] || fail "IPv6 healthz"
  kill "$PID"; wait "$PID"; PID=
fi
AIRLOCK_SERVER_TLS_CERT="$T/nope.pem" AIRLOCK_SERVER_TLS_KEY="$T/nope.pem" \
  "$A" serve --listen 127.0.0.1:0 >/dev/null 2>"$T/e"; rc=$?
[ $rc -ne 0 ] || fail "missing TLS files accepted"
"$A" serve --listen nowhere:80 >/dev/null 2>"$T/e"; [ $? -eq 2 ] || fail "bad listen address exit"
grep -q "server.listen" "$T/e" || fail "bad listen message"
echo ok
