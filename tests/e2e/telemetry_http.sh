#!/usr/bin/env bash
# The http (OTLP/JSON) export sink end to end: `airlock serve` with the
# sink pointed at a small loopback collector (python3, in this script)
# that answers the first POST with 503 and the rest with 200. Feedback
# events posted to the server arrive as OTLP logRecords after the retry,
# /metrics counts them, and the server, locked down where the kernel can,
# reaches the collector through its one allowlisted port. Also: serve
# refuses to start with a host name URL, a destination missing from
# egress.allow, or https.
set -u
A=${AIRLOCK:?AIRLOCK must name the airlock binary}
T=$(mktemp -d)
PID= RPID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  [ -n "$RPID" ] && kill "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$T/err" ] && tail -n 5 "$T/err"; exit 1; }
command -v curl >/dev/null || { echo "curl is not installed"; exit 77; }
command -v python3 >/dev/null || { echo "python3 is not installed"; exit 77; }
export AIRLOCK_DATA="$T/data" AIRLOCK_LOG_LEVEL=warn

# The collector: one JSON line per POST (path, content type, body) in
# $T/got; the first answer is 503, so the sink must retry.
cat > "$T/collector.py" <<'PY'
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

out, portfile = sys.argv[1], sys.argv[2]
seen = [0]

class H(BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode()
        seen[0] += 1
        code = 503 if seen[0] == 1 else 200
        with open(out, "a") as f:
            f.write(json.dumps({"path": self.path, "type": self.headers.get("Content-Type"),
                                "code": code, "body": body}) + "\n")
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass

s = HTTPServer(("127.0.0.1", 0), H)
with open(portfile + ".tmp", "w") as f:
    f.write(str(s.server_address[1]))
import os
os.rename(portfile + ".tmp", portfile)
s.serve_forever()
PY
python3 "$T/collector.py" "$T/got" "$T/cport" &
RPID=$!
for _ in $(seq 200); do [ -s "$T/cport" ] && break; sleep 0.05; done
CPORT=$(cat "$T/cport" 2>/dev/null)
[ -n "$CPORT" ] || fail "the collector did not start"

"$A" team add core >/dev/null || fail "team add"
"$A" user add ana --team core >/dev/null || fail "user add"
TOK=$("$A" token create --user ana 2>/dev/null) || fail "token create"

# Refusals at start: each names the problem, nothing is served.
refuse() {
  env "$@" "$A" serve --allow-unsandboxed --listen 127.0.0.1:0 >"$T/rout" 2>"$T/rerr" &
  local p=$!
  for _ in $(seq 200); do kill -0 $p 2>/dev/null || break; sleep 0.05; done
  if kill -0 $p 2>/dev/null; then kill $p; wait $p; fail "serve started with $*"; fi
  wait $p
  [ $? -ne 0 ] || fail "serve exited 0 with $*"
}
refuse AIRLOCK_TELEMETRY_SINKS=http AIRLOCK_TELEMETRY_HTTP_URL="http://collector.internal:$CPORT/v1/logs" \
  AIRLOCK_EGRESS_ALLOW="127.0.0.1:$CPORT"
grep -q "is a host name" "$T/rerr" || fail "host name message: $(cat "$T/rerr")"
refuse AIRLOCK_TELEMETRY_SINKS=http AIRLOCK_TELEMETRY_HTTP_URL="http://127.0.0.1:$CPORT/v1/logs"
grep -q "127.0.0.1:$CPORT is not on egress.allow" "$T/rerr" || fail "allowlist message: $(cat "$T/rerr")"
refuse AIRLOCK_TELEMETRY_SINKS=http AIRLOCK_TELEMETRY_HTTP_URL="https://127.0.0.1:$CPORT/v1/logs" \
  AIRLOCK_EGRESS_ALLOW="127.0.0.1:$CPORT"
grep -q "https is not supported" "$T/rerr" || fail "https message: $(cat "$T/rerr")"
[ -s "$T/got" ] && fail "a refused configuration sent something"

export AIRLOCK_TELEMETRY_SINKS=http AIRLOCK_TELEMETRY_HTTP_URL="http://127.0.0.1:$CPORT/v1/logs" \
  AIRLOCK_EGRESS_ALLOW="127.0.0.1:$CPORT" AIRLOCK_TELEMETRY_HTTP_FLUSH_INTERVAL=50ms \
  AIRLOCK_TELEMETRY_HTTP_BATCH=2
"$A" serve --allow-unsandboxed --listen 127.0.0.1:0 >"$T/out" 2>"$T/err" &
PID=$!
for _ in $(seq 400); do grep -q "serving" "$T/out" 2>/dev/null && break; sleep 0.05; done
PORT=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/out")
[ -n "$PORT" ] || fail "no port in: $(cat "$T/out")"
U="http://127.0.0.1:$PORT"
post() { curl -s -H "Authorization: Bearer $TOK" -d "$1" "$U/v1/events"; }
for k in shown accepted partial; do
  post "{\"request_id\":\"req-$k\",\"event\":\"$k\",\"accepted_chars\":7}" | grep -q recorded ||
    fail "event $k"
done
# Wait (capped) until the sink counts all three delivered, after the 503.
for _ in $(seq 400); do
  curl -s -H "Authorization: Bearer $TOK" "$U/metrics" | grep -q '^airlock_telemetry_http_sent_records_total 3$' && break
  sleep 0.05
done
python3 - "$T/got" <<'PY' || fail "records at the collector: $(cat "$T/got")"
import json, sys
posts = [json.loads(l) for l in open(sys.argv[1])]
assert posts[0]["code"] == 503, posts[0]
ok = [p for p in posts if p["code"] == 200]
kinds = []
for p in posts:
    assert p["path"] == "/v1/logs", p["path"]
    assert p["type"] == "application/json", p["type"]
for p in ok:
    req = json.loads(p["body"])
    rl = req["resourceLogs"][0]
    attrs = {a["key"]: a["value"] for a in rl["resource"]["attributes"]}
    assert attrs["service.name"] == {"stringValue": "airlock"}, attrs
    for r in rl["scopeLogs"][0]["logRecords"]:
        assert r["severityText"] == "INFO" and r["body"] == {"stringValue": "feedback"}, r
        assert int(r["timeUnixNano"]) > 1700000000000000000, r
        a = {x["key"]: x["value"] for x in r["attributes"]}
        assert a["user"] == {"stringValue": "ana"} and a["team"] == {"stringValue": "core"}, a
        assert a["accepted_chars"] == {"intValue": "7"}, a
        kinds.append((a["request_id"]["stringValue"], a["kind"]["stringValue"]))
# The batch refused with 503 came again: every event exactly once.
assert sorted(kinds) == [("req-accepted", "accepted"), ("req-partial", "partial"),
                         ("req-shown", "shown")], kinds
PY
curl -s -H "Authorization: Bearer $TOK" "$U/metrics" > "$T/metrics" || fail "metrics"
grep -q '^airlock_telemetry_http_sent_records_total 3$' "$T/metrics" ||
  fail "sent counter: $(grep telemetry_http "$T/metrics")"
grep -q '^airlock_telemetry_http_failed_posts_total 1$' "$T/metrics" ||
  fail "failed counter: $(grep telemetry_http "$T/metrics")"
grep -q '^airlock_telemetry_http_dropped_records_total 0$' "$T/metrics" || fail "dropped counter"
# Where the kernel has Landlock's TCP rules, the server is locked down and
# still reached the collector: its port is the one connect rule.
if "$A" doctor 2>/dev/null | grep -q 'TCP bind/connect yes' &&
   "$A" doctor 2>/dev/null | grep -q '^seccomp *yes'; then
  grep -q '^Seccomp:[[:space:]]*2' "/proc/$PID/status" || fail "serve is not under seccomp"
fi
# A last event, then SIGTERM: shutdown delivers it before exiting.
post '{"request_id":"req-last","event":"rejected"}' | grep -q recorded || fail "event last"
kill "$PID"; wait "$PID"; rc=$?; PID=
[ $rc -eq 0 ] || fail "serve exit $rc"
grep -q 'req-last' "$T/got" || fail "the last event was not flushed at shutdown"
echo "ok: http sink delivered OTLP/JSON logs (retry after 503, flush at shutdown)"
