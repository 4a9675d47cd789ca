#!/usr/bin/env bash
# `airlock doctor` on this machine: every layer the kernel offers is
# reported, every probe is blocked by the layer that should block it, the
# exit code says whether anything is weaker than the config demands.
set -u
A=${AIRLOCK:?AIRLOCK must name the airlock binary}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
mkdir -p "$T/data"

"$A" --data "$T/data" doctor > "$T/out" 2>"$T/err"; rc=$?
cat "$T/out"
if grep -q "cannot open the loopback listeners" "$T/out" ||
   ! grep -qE '^  tcp_connect +ok ' "$T/out"; then
  echo "no usable loopback interface here (e.g. a fresh network namespace): probes cannot run"
  exit 77
fi
abi=$(sed -n 's/^landlock *ABI \([0-9]*\).*/\1/p' "$T/out")
[ -n "$abi" ] || fail "no Landlock line"
grep -q '^seccomp  *yes' "$T/out"; sc=$?
if [ "$abi" -ge 4 ] && [ $sc -eq 0 ]; then
  [ $rc -eq 0 ] || fail "doctor exit $rc on a kernel with Landlock ABI $abi and seccomp"
  for p in tcp_connect tcp_bind fs_write_outside; do
    grep -qE "^  $p +ok +EACCES +landlock +blocked$" "$T/out" || fail "$p not blocked by landlock"
  done
  for p in tcp_fastopen udp_send raw_socket packet_socket netlink_socket unix_socket io_uring bpf; do
    grep -qE "^  $p +ok +EPERM +seccomp +blocked" "$T/out" || fail "$p not blocked by seccomp"
  done
  grep -qE '^  fs_write_data +ok +ok .*allowed' "$T/out" || fail "data directory not writable"
  grep -q "all layers enforced, all probes blocked" "$T/out" || fail "summary"
else
  # Weaker kernel: doctor must say so and fail.
  [ $rc -eq 1 ] || fail "doctor exit $rc on a kernel lacking layers (ABI $abi, seccomp $sc)"
  grep -q "weaker than the configuration demands" "$T/out" || fail "no problem list"
  echo "kernel lacks Landlock ABI >= 4 or seccomp: doctor reports it (exit 1); probes not asserted"
  exit 77
fi

# JSON: the same facts, machine-readable.
"$A" --data "$T/data" doctor --json > "$T/json" || fail "doctor --json exit $?"
if command -v python3 >/dev/null; then
  python3 - "$T/json" <<'PY' || fail "doctor --json content"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["ok"] is True, j["problems"]
assert j["landlock"]["net"] is True and j["seccomp"]["available"] is True
names = {p["name"]: p for p in j["probes"]}
assert names["tcp_connect"]["layer"] == "landlock", names["tcp_connect"]
assert names["udp_send"]["layer"] == "seccomp", names["udp_send"]
assert all(p["pass"] for p in j["probes"])
assert j["egress_allow"] == [] and j["connect_ports"] == []
PY
else
  grep -q '"ok": true' "$T/json" || fail "doctor --json ok"
fi

# An allowlist shows up as connect ports; a name in it is refused (no DNS).
printf 'egress:\n  allow: ["localhost:5432", "[::1]:8000"]\nserver:\n  listen: 127.0.0.1:9191\n' > "$T/a.yaml"
"$A" --config "$T/a.yaml" --data "$T/data" doctor > "$T/out" || fail "doctor with allowlist exit $?"
grep -q '^egress.allow *127.0.0.1:5432 \[::1\]:8000$' "$T/out" || fail "allowlist line: $(grep egress "$T/out")"
grep -q '^connect allowed *ports: 5432 8000$' "$T/out" || fail "connect ports line"
grep -q 'bind allowed on ports: 9191' "$T/out" || fail "bind port line"
printf 'egress:\n  allow: ["db.internal:5432"]\n' > "$T/b.yaml"
"$A" --config "$T/b.yaml" --data "$T/data" doctor > /dev/null 2>"$T/err"; rc=$?
[ $rc -eq 2 ] || fail "host name in egress.allow: exit $rc, want 2"
grep -q "egress.allow\[0\].*DNS" "$T/err" || fail "host name message: $(cat "$T/err")"

"$A" doctor --bogus 2>/dev/null; [ $? -eq 2 ] || fail "unknown option exit code"
"$A" doctor --help | grep -q "usage: airlock doctor" || fail "--help"
echo "doctor: ok"
