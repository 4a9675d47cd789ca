#!/usr/bin/env bash
# No ambient network use: every command listed in CHECKS runs under
# `strace -f -e trace=network`, and any connect/sendto/sendmsg/sendmmsg
# aimed at anything but loopback (or the kernel, over netlink) fails the
# test -- whether or not the call succeeded. A DNS lookup, an update check
# or a crash reporter would show up here as a connect or sendto.
#
# What is judged is airlock: every process from the moment it executes the
# airlock binary, its threads, and whatever it starts in turn. The test's
# own tools (bash, curl, coreutils) are traced but not judged: bash without
# $SHELL asks nscd for the user's entry before it executes anything, and
# that is not airlock's doing.
#
# To cover another command, add one line to CHECKS: a bash snippet run with
# $A (the airlock binary) and $T (a scratch directory; AIRLOCK_DATA is
# $T/data) set. A snippet may start a server in the background, talk to it
# over loopback and stop it: children are traced too (-f).
#
# Then a full session runs under one trace (issue 9): index a repository,
# synthesise two tiny models (from ../shared/vocab; without it the server
# serves the index model and chat is not asserted), add a team, a user and
# a token, serve on 127.0.0.1, complete (whole and streamed), infill, POST
# /v1/policy/check, chat, stop, `policy check` a file, `audit verify`. On
# top of the egress check, it fails on any socket() but TCP (UDP, raw,
# packet, netlink, Unix) and on any traffic to port 53.
set -u
A=${AIRLOCK:?AIRLOCK must name the airlock binary}
export A
command -v strace >/dev/null || { echo "strace is not installed (scripts/deps.sh installs it)"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
export T AIRLOCK_DATA=$T/data
# LeakSanitizer cannot run under ptrace and would fail every traced command
# of an ASan build; leaks are checked by the untraced tests.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
mkdir -p "$T/data"
strace -f -e trace=network,process -o "$T/probe.log" true 2>/dev/null ||
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

# Keeps the lines of strace log $1 (-f, trace=network,process) made by
# airlock: a process counts from its successful execve of a file named like
# $A, and a clone/fork child counts if its parent did at the time. Two
# passes, since strace may print a child's first calls before its parent's
# clone returns.
airlock_only() {
  awk -v exe="$(basename "$A")" '
    function pid() { return $1 + 0 }
    function ret(  r) { r = $0; sub(/.*= /, "", r); return r + 0 }
    function isexec(  q) {
      if ($0 !~ /^[0-9]+ execve\("/ || $0 ~ /= -1 /) return 0
      q = $0; sub(/^[0-9]+ execve\("/, "", q); sub(/".*/, "", q); sub(/.*\//, "", q)
      return q == exe
    }
    FNR == 1 { pass++ }
    pass == 1 {
      p = pid()
      if (isexec()) on[p] = 1
      if ($0 ~ /^[0-9]+ (clone3?|fork|vfork)\(/) at[p] = on[p]
      if ($0 ~ /^[0-9]+ ((clone3?|fork|vfork)\(|<\.\.\. (clone3?|fork|vfork) resumed>)/ &&
          $0 ~ /= [0-9]+$/ && $0 !~ /unfinished/) { c = ret(); if (at[p]) { born[c] = 1; on[c] = 1 } }
      next
    }
    {
      p = pid()
      if (!(p in judged)) judged[p] = born[p]
      if (isexec()) judged[p] = 1
      if (judged[p]) print
      if ($0 ~ /^[0-9]+ ((clone3?|fork|vfork)\(|<\.\.\. (clone3?|fork|vfork) resumed>)/ &&
          $0 ~ /= [0-9]+$/ && $0 !~ /unfinished/ && judged[p]) judged[ret()] = 1
    }' "$1" "$1"
}
A_NAME=$(basename "$A")
cat > "$T/fake.log" <<LOG
200 connect(3, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT (No such file or directory)
200 execve("/bin/sha256sum", ["sha256sum"], 0x1 /* 3 vars */) = 0
201 connect(3, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT (No such file or directory)
201 execve("/usr/bin/$A_NAME", ["$A_NAME"], 0x1 /* 3 vars */) = -1 ENOENT (No such file or directory)
201 execve("/x/$A_NAME", ["$A_NAME"], 0x1 /* 3 vars */) = 0
202 socket(AF_INET, SOCK_DGRAM, IPPROTO_IP) = 3
201 clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0, stack=0x1, stack_size=0x1}, 88 <unfinished ...>
203 connect(3, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("8.8.8.8")}, 16) = 0
201 <... clone3 resumed> => {parent_tid=[203]}, 88) = 203
201 clone(child_stack=NULL, flags=CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x1) = 204
204 execve("/usr/bin/git", ["git"], 0x1 /* 3 vars */) = 0
204 connect(3, {sa_family=AF_INET, sin_port=htons(443), sin_addr=inet_addr("10.0.0.1")}, 16) = 0
LOG
airlock_only "$T/fake.log" > "$T/fake.out"
# Kept: the successful exec of airlock and everything after it from pid
# 201, its thread 203 and its child 204; not bash's nscd look-ups (200,
# 201 before the exec), nor pid 202, which airlock never started.
sed -n '5p;7,$p' "$T/fake.log" > "$T/want"
if ! diff -u "$T/want" "$T/fake.out" >/dev/null; then
  echo "FAIL: airlock_only kept the wrong lines:"; cat "$T/fake.out"; exit 1
fi

# Prints every socket() call in strace log $1 that opens anything but a TCP
# socket (UDP, raw, packet, netlink...), and any traffic to or from port 53
# (DNS, by any family); returns 1 if there is one. AF_UNIX socketpair()s
# (a client's own wake-up pipe) are not socket() calls and pass.
odd_sockets() {
  awk '
    /(^|[ ])socket\(/ {
      if ($0 !~ /socket\(AF_INET6?, SOCK_STREAM/) { print; found = 1 }
    }
    /htons\(53\)/ { print; found = 1 }
    END { exit found ? 1 : 0 }' "$1"
}
printf '%s\n' '103 socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP) = 3' \
  '103 socket(AF_INET6, SOCK_STREAM, IPPROTO_IP) = 4' > "$T/fake.log"
odd_sockets "$T/fake.log" >/dev/null || { echo "FAIL: socket checker flags TCP"; exit 1; }
for bad in \
  '104 socket(AF_INET, SOCK_DGRAM|SOCK_CLOEXEC|SOCK_NONBLOCK, IPPROTO_IP) = 3' \
  '104 socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE) = 3' \
  '104 socket(AF_PACKET, SOCK_RAW, 768) = 3' \
  '104 socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, 0) = 3' \
  '104 connect(3, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("127.0.0.53")}, 16) = 0'; do
  printf '%s\n' "$bad" > "$T/fake.log"
  if odd_sockets "$T/fake.log" >/dev/null; then echo "FAIL: socket checker missed: $bad"; exit 1; fi
done

fail=0
for c in "${CHECKS[@]}"; do
  strace -f -e trace=network,process -o "$T/all.log" bash -c "$c" >"$T/out" 2>&1
  rc=$?
  airlock_only "$T/all.log" > "$T/trace.log"
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
# A full session under one trace: index a repository, start the server
# (sandboxed where the kernel can), complete, chat, infill and check a
# policy over loopback, check a file with the CLI, stop the server and
# verify the audit log. Every process is traced (-f) and every airlock
# process is judged: the server and its threads, and the CLI commands.
S=${AIRLOCK_SHARED:-$(cd "$(dirname "$0")/../../.." && pwd)/shared}
export S
if ! command -v curl >/dev/null; then
  echo "skip: full session (curl is not installed)"
  exit $fail
fi
cat > "$T/session.sh" <<'SESSION'
set -u
export AIRLOCK_DATA="$T/sess" AIRLOCK_LOG_LEVEL=warn AIRLOCK_SERVER_THREADS=1 \
  AIRLOCK_MODEL_N_CTX=256 AIRLOCK_SERVER_SLOTS=1
die() { echo "session: $*"; [ -f "$T/serr" ] && tail -n 5 "$T/serr"; [ -n "${PID:-}" ] && kill "$PID"; exit 1; }
mkdir -p "$T/repo"
printf 'int scale(int x, int k)\n{\n\treturn x * k;\n}\n' > "$T/repo/util.c"
printf 'def twice(x):\n    return 2 * x\n' > "$T/repo/util.py"
"$A" index "$T/repo" --name demo --allow-unsandboxed >/dev/null || die "index"
FIM= CHAT=
if [ -f "$S/vocab/ggml-vocab-deepseek-coder.gguf" ] && [ -f "$S/vocab/ggml-vocab-qwen2.gguf" ]; then
  # Two tiny models: DeepSeek-Coder's tokenizer has the FIM tokens, Qwen2's
  # the chat template.
  "$A" model synth --arch llama --layers 1 --dim 32 --heads 4 --ffn 64 --seed 1 \
    --vocab-from "$S/vocab/ggml-vocab-deepseek-coder.gguf" -o "$T/fim.gguf" >/dev/null || die "synth fim"
  "$A" model synth --arch qwen2 --layers 1 --dim 32 --heads 4 --kv-heads 2 --ffn 64 --seed 2 \
    --vocab-from "$S/vocab/ggml-vocab-qwen2.gguf" -o "$T/chat.gguf" >/dev/null || die "synth chat"
  FIM="--model $T/fim.gguf" CHAT="--model $T/chat.gguf"
else
  echo "skip: model part of the session (no shared vocabularies in $S); serving the index model"
fi
"$A" team add core >/dev/null || die "team add"
"$A" user add dev --team core --role admin >/dev/null || die "user add"
TOK=$("$A" token create --user dev 2>/dev/null) || die "token create"
PID=
start() {
  : > "$T/sout"
  "$A" serve --allow-unsandboxed $1 --listen 127.0.0.1:0 >"$T/sout" 2>"$T/serr" &
  PID=$!
  for _ in $(seq 400); do grep -q serving "$T/sout" && break; sleep 0.05; done
  PORT=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/sout")
  [ -n "$PORT" ] || die "no port in: $(cat "$T/sout")"
  U="http://127.0.0.1:$PORT"
}
stop() { kill "$PID"; wait "$PID"; PID=; }
# -q: no ~/.curlrc, whose look-up of the home directory asks nscd.
post() { curl -q -s --max-time 60 -w ' %{http_code}' -H "Authorization: Bearer $TOK" -d "$2" "$U$1"; }
start "$FIM"
r=$(post /v1/completions '{"prompt":"def add(a, b):\n","max_tokens":4,"temperature":1,"seed":1}')
case $r in *'"choices"'*' 200') ;; *) die "completion: $r" ;; esac
r=$(post /v1/completions '{"prompt":"int f(void) {","max_tokens":4,"stream":true}')
case $r in *'[DONE]'*' 200') ;; *) die "streamed completion: $r" ;; esac
r=$(post /infill '{"input_prefix":"int twice(int x)\n{\n\treturn scale(","input_suffix":"\n}\n","n_predict":3,"repo":"demo","path":"main.c"}')
case $r in *' 200') ;; *) die "infill: $r" ;; esac
r=$(post /v1/policy/check '{"text":"key = \"ghp_R7x2Kq9LmZ4vT8wB3nJ6pY1cF5hD0sGaE2uW\"\n","path":"config.py"}')
case $r in *'"action":"redact"'*' 200') ;; *) die "policy check: $r" ;; esac
if [ -n "$CHAT" ]; then
  stop
  start "$CHAT"
  r=$(post /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"max_tokens":4}')
  case $r in *'"chat.completion"'*' 200') ;; *) die "chat: $r" ;; esac
fi
stop
printf 'token = "ghp_R7x2Kq9LmZ4vT8wB3nJ6pY1cF5hD0sGaE2uW"\n' > "$T/leak.py"
"$A" policy check "$T/leak.py" >/dev/null; [ $? -eq 5 ] || die "policy check of a secret: want exit 5"
"$A" audit verify >/dev/null || die "audit verify"
n=$("$A" audit query | grep -c ' request ')
[ "$n" -ge 3 ] || die "audit has $n request records (want completions and infill)"
SESSION
strace -f -e trace=network,process -o "$T/all.log" bash "$T/session.sh" >"$T/out" 2>&1
rc=$?
airlock_only "$T/all.log" > "$T/session.log"
calls=$(grep -cE '(connect|sendto|sendmsg|sendmmsg)\(' "$T/session.log")
if [ $rc -ne 0 ]; then
  echo "FAIL: full session (exit $rc):"; tail -n 8 "$T/out" | sed 's/^/    /'; fail=1
elif ! egress_calls "$T/session.log" > "$T/bad"; then
  echo "FAIL: full session: network calls leaving loopback:"; sed 's/^/    /' "$T/bad"; fail=1
elif ! odd_sockets "$T/session.log" > "$T/bad"; then
  echo "FAIL: full session: non-TCP sockets or DNS:"; sed 's/^/    /' "$T/bad"; fail=1
else
  grep '^skip' "$T/out"
  echo "ok: full session (index, serve, complete, chat, infill, policy, audit;" \
       "$calls loopback network calls)"
fi
exit $fail
