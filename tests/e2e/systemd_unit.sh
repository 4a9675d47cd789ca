#!/usr/bin/env bash
# deploy/systemd/airlock.service: systemd-analyze verify accepts it (with
# ExecStart pointing at the binary under test), it carries the hardening
# docs/SECURITY.md promises, and systemd's own exposure score stays low.
set -u
A=${AIRLOCK:?AIRLOCK must name the airlock binary}
cd "$(dirname "$0")/../.."
U=deploy/systemd/airlock.service
command -v systemd-analyze >/dev/null ||
  { echo "systemd-analyze is absent (Debian package systemd); unit not verified"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

for want in 'IPAddressDeny=any' 'IPAddressAllow=localhost' \
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' 'ProtectSystem=strict' \
    'ReadWritePaths=/var/lib/airlock' 'NoNewPrivileges=yes' 'User=airlock' \
    'SystemCallFilter=@system-service' 'CapabilityBoundingSet=' \
    'SystemCallErrorNumber=EPERM' 'SocketBindDeny=any'; do
  grep -qx "$want" "$U" || fail "$U lacks '$want'"
done
grep -q '^SystemCallFilter=~.*io_uring_setup.*bpf' "$U" || fail "io_uring/bpf not denied"

sed "s#/usr/local/bin/airlock#$A#" "$U" > "$T/airlock.service"
systemd-analyze verify "$T/airlock.service" > "$T/out" 2>&1; rc=$?
cat "$T/out"
[ $rc -eq 0 ] || fail "systemd-analyze verify exit $rc"
if grep -q "airlock.service" "$T/out"; then fail "verify warned about the unit"; fi

# Exposure (0 best .. 10 worst), threshold in tenths: at most 2.0.
if systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
  systemd-analyze security --offline=true --threshold=20 "$T/airlock.service" > "$T/sec" 2>&1 ||
    { tail -n 40 "$T/sec"; fail "exposure above 2.0"; }
  grep 'Overall exposure' "$T/sec"
fi
echo "systemd unit: ok"
