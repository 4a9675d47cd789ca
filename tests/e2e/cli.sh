#!/usr/bin/env bash
# The CLI as a user meets it: help, version, config check/show, exit codes.
set -u
A=${AIRLOCK:?AIRLOCK must name the airlock binary}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$A" --help | grep -q "usage: airlock" || fail "--help"
"$A" help config | grep -q "airlock config check" || fail "help config"
"$A" config --help | grep -q "airlock config check" || fail "config --help"
"$A" version | grep -q "^airlock " || fail version
"$A" version | grep -q "^cpu features: " || fail "version cpu features"
"$A" nosuch 2>"$T/err"; [ $? -eq 2 ] || fail "unknown command exit code"
grep -q "^airlock: usage: unknown command 'nosuch'" "$T/err" || fail "unknown command message"
"$A" help nosuch 2>/dev/null; [ $? -eq 2 ] || fail "help nosuch exit code"

printf 'server:\n  listen: 127.0.0.1:9999\n' > "$T/good.yaml"
"$A" config check "$T/good.yaml" | grep -q ": ok$" || fail "config check good"

printf 'server:\n  threads: lots\n' > "$T/bad.yaml"
"$A" config check "$T/bad.yaml" 2>"$T/err"; rc=$?
[ $rc -eq 2 ] || fail "config check bad: exit $rc, want 2"
[ "$(wc -l < "$T/err")" -eq 1 ] || fail "config check bad: want one line, got: $(cat "$T/err")"
grep -q "bad.yaml:2:12: server.threads: 'lots' is not an integer" "$T/err" || fail "config check message: $(cat "$T/err")"

# A broken config stops any command that needs it, with the same message.
"$A" --config "$T/bad.yaml" config show 2>"$T/err"; [ $? -eq 2 ] || fail "config show with bad file"
grep -q "bad.yaml:2:12" "$T/err" || fail "config show message"

# Effective config: file, then environment.
AIRLOCK_SERVER_THREADS=2 "$A" --config "$T/good.yaml" --data "$T/data" config show > "$T/show"
grep -q 'listen: "127.0.0.1:9999"  # file' "$T/show" || fail "show: file value"
grep -q 'threads: 2  # env' "$T/show" || fail "show: env value"
grep -q "# data directory: $T/data" "$T/show" || fail "show: data dir"
AIRLOCK_DATA="$T/d2" "$A" config show | grep -q "# data directory: $T/d2" || fail "AIRLOCK_DATA"
echo ok
