#!/usr/bin/env bash
# No ambient network use: every command listed in CHECKS runs under
# `strace -f -e trace=network`, and any connect/sendto/sendmsg/sendmmsg
# aimed at anything but loopback (or the kernel, over netlink) fails the
# test -- whether or not the call succeeded. A DNS lookup, an update check
# or a crash reporter would show up here as a connect or sendto.
#
# To cover another command, add one line to CHECKS: a bash snippet run with
# $A (the airlock binary) and $T (a scratch directory; AIRLOCK_DATA is
# $T/data) set. A snippet may start a server in the background, talk to it
# over loopback and stop it: children are traced too (-f).
set -u
A=${AIRLOCK:?AIRLOCK must name the airlock binary}
export A
command -v strace >/dev/null || { echo "strace is not installed (scripts/deps.sh installs it)"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
export T AIRLOCK_DATA=$T/data
mkdir -p "$T/data"
strace -f -e trace=network -o "$T/probe.log" true 2>/dev/null ||
  { echo "strace cannot trace here (ptrace not permitted)"; exit 77; }

CHECKS=(
  '"$A" version'
  '"$A" --help'
  '"$A" config show'
  '"$A" doctor'
  '"$A" doctor --json'
  '"$A" keygen "$T/bundle.key"'
  'mkdir -p "$T/b" && echo hi > "$T/b/f" && (cd "$T/b" && sha256sum f > SHA256SUMS) &&
   "$A" sign-bundle "$T/b" --key "$T/bundle.key" && "$A" verify-bundle "$T/b" --pubkey "$T/bundle.key.pub"'
  # More commands as they exist, e.g.:
  # '"$A" index "$T/repo"'
  # '"$A" serve & pid=$!; ...curl 127.0.0.1...; kill $pid'
  # '"$A" policy check "$T/file.py"'
  # '"$A" audit verify'
)

# Prints every network call in strace log $1 that leaves the machine's
# loopback; returns 1 if there is one.
egress_calls() {
  awk '
    /(^|[ ])(connect|sendto|sendmsg|sendmmsg)\(/ {
      line = $0; bad = 0; n = 0
      while (match(line, /sa_family=AF_[A-Z0-9]+/)) {
        fam = substr(line, RSTART + 10, RLENGTH - 10)
        rest = substr(line, RSTART + RLENGTH)
        seg = rest; if (match(seg, /sa_family=/)) seg = substr(seg, 1, RSTART - 1)
        n++
        if (fam == "AF_INET") {
          if (seg !~ /sin_addr=inet_addr\("127\./) bad = 1
        } else if (fam == "AF_INET6") {
          if (seg !~ /"::1"/ && seg !~ /"::ffff:127\./) bad = 1
        } else if (fam == "AF_NETLINK") {
          if (seg !~ /nl_pid=0[,}]/) bad = 1
        } else if (fam != "AF_UNSPEC") {
          bad = 1   # AF_UNIX and everything else: nothing local may relay
        }
        line = rest
      }
      if (bad) { print; found = 1 }
    }
    END { exit found ? 1 : 0 }' "$1"
}

# The checker must catch what it is meant to catch.
cat > "$T/fake.log" <<'LOG'
101 connect(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
101 sendto(3, "x", 1, 0, {sa_family=AF_INET6, sin6_port=htons(9), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 1
101 sendto(4, "...", 20, 0, {sa_family=AF_NETLINK, nl_pid=0, nl_groups=00000000}, 12) = 20
101 connect(3, {sa_family=AF_UNSPEC, sa_data="\0\0\0\0\0\0\0\0\0\0\0\0\0\0"}, 16) = 0
LOG
egress_calls "$T/fake.log" >/dev/null || { echo "FAIL: checker flags loopback traffic"; exit 1; }
for bad in \
  '102 connect(3, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("8.8.8.8")}, 16) = -1 EACCES (Permission denied)' \
  '102 sendto(3, "x", 1, 0, {sa_family=AF_INET6, sin6_port=htons(53), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "2001:db8::1", &sin6_addr), sin6_scope_id=0}, 28) = 1' \
  '102 connect(3, {sa_family=AF_UNIX, sun_path="/run/systemd/resolve/io.systemd.Resolve"}, 42) = 0' \
  '102 sendmsg(3, {msg_name={sa_family=AF_INET, sin_port=htons(443), sin_addr=inet_addr("10.0.0.1")}, msg_namelen=16}, 0) = 1' \
  '102 sendto(4, "...", 20, 0, {sa_family=AF_NETLINK, nl_pid=4242, nl_groups=00000000}, 12) = 20' \
  '102 connect(3, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("127.0.0.1")}, 16) = 0 ; connect(4, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("1.1.1.1")}, 16) = 0'; do
  printf '%s\n' "$bad" > "$T/fake.log"
  if egress_calls "$T/fake.log" >/dev/null; then echo "FAIL: checker missed: $bad"; exit 1; fi
done

fail=0
for c in "${CHECKS[@]}"; do
  strace -f -e trace=network -o "$T/trace.log" bash -c "$c" >"$T/out" 2>&1
  rc=$?
  if [ $rc -ge 126 ]; then
    echo "FAIL: $c: exit $rc (the snippet itself is broken):"; tail -n 5 "$T/out"; fail=1; continue
  fi
  calls=$(grep -cE '(connect|sendto|sendmsg|sendmmsg)\(' "$T/trace.log")
  if ! egress_calls "$T/trace.log" > "$T/bad"; then
    echo "FAIL: $c: network calls leaving loopback:"; sed 's/^/    /' "$T/bad"
    fail=1
  else
    echo "ok: $c (exit $rc, $calls loopback/kernel network calls)"
  fi
done
exit $fail
