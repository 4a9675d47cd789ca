#!/usr/bin/env bash
# `airlock policy`: lint, check (exit codes, text and JSON), the rule-test
# runner on the example bundle, signing and refusal of tampered bundles.
set -u
A=${AIRLOCK:?AIRLOCK must name the airlock binary}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$A" policy --help | grep -q "airlock policy lint" || fail "policy --help"

# lint: a good bundle and a broken one (one line naming file:line:col and the rule).
cp -r "$ROOT/policy/examples/secure-code" "$T/b"
"$A" policy lint "$T/b" >"$T/out" || fail "lint example: $(cat "$T/out")"
grep -q "^ok: 2 files, 32 rules" "$T/out" || fail "lint summary: $(cat "$T/out")"
mkdir "$T/bad"
printf 'rules:\n  - id: r1\n    kind: pattern\n    regex: "a(b"\n' > "$T/bad/p.yaml"
"$A" policy lint "$T/bad" 2>"$T/err"; rc=$?
[ $rc -eq 3 ] || fail "lint bad: exit $rc, want 3"
[ "$(wc -l < "$T/err")" -eq 1 ] || fail "lint bad: want one line: $(cat "$T/err")"
grep -q "p.yaml:4:12: rule 'r1': regex does not compile" "$T/err" || fail "lint message: $(cat "$T/err")"

# check: exit code by worst action, findings with line:col.
printf 'x = 1\n' > "$T/clean.py"
"$A" policy check "$T/clean.py" >/dev/null; [ $? -eq 0 ] || fail "check clean: want 0"
printf 'import os\nkey = "AKIAQYLPMN5HFIQR7XYZ"\n' > "$T/leak.py"
"$A" policy check "$T/leak.py" >"$T/out"; rc=$?
[ $rc -eq 5 ] || fail "check leak: exit $rc, want 5"
grep -q "leak.py:2:8: redact critical \[aws-access-key-id\]" "$T/out" || fail "check text: $(cat "$T/out")"
grep -q "AKIAQYLPMN5HFIQR7XYZ" "$T/out" && fail "the secret itself was printed"
"$A" policy check --json - <"$T/leak.py" >"$T/out"; [ $? -eq 5 ] || fail "check json exit"
grep -q '"rule_id":"aws-access-key-id"' "$T/out" || fail "check json: $(cat "$T/out")"
grep -q '"line":2,"col":8' "$T/out" || fail "check json position: $(cat "$T/out")"
printf 'value = eval(expr)\n' > "$T/e.py"
"$A" policy check --bundle "$T/b" "$T/e.py" >/dev/null; [ $? -eq 5 ] || fail "regenerate: want 5"
"$A" policy check --bundle "$T/b" --team research "$T/e.py" >/dev/null; rc=$?
[ $rc -eq 1 ] || fail "team override to warn: exit $rc, want 1"

# test: the example bundle's rule tests pass; a wrong expectation fails.
"$A" policy test "$T/b" >"$T/out" || fail "policy test: $(cat "$T/out")"
grep -q "3 passed, 0 failed" "$T/out" || fail "policy test summary: $(cat "$T/out")"
printf '// ruleid: c-no-strcpy\nstrlcpy(a, b, n);\n' > "$T/b/tests/wrong.c"
"$A" policy test "$T/b" >"$T/out"; [ $? -eq 1 ] || fail "policy test must fail on a missed finding"
grep -q "FAIL wrong.c:2: expected a finding of c-no-strcpy" "$T/out" || fail "missed message: $(cat "$T/out")"
rm "$T/b/tests/wrong.c"

# sign, then refuse tampering and unsigned bundles when signatures are required.
"$A" policy keygen --out "$T/k" >/dev/null || fail keygen
[ "$(stat -c %a "$T/k")" = 600 ] || fail "private key mode"
"$A" policy sign "$T/b" --key "$T/k" >/dev/null || fail sign
"$A" policy lint "$T/b" --require-signature --trusted-key "$T/k.pub" | grep -q "^signed: yes" || fail "signed lint"
"$A" policy lint "$T/bad" --require-signature --trusted-key "$T/k.pub" 2>"$T/err"; [ $? -eq 3 ] || fail "unsigned refused"
grep -q "not signed" "$T/err" || fail "unsigned message: $(cat "$T/err")"
printf '# edited\n' >> "$T/b/org.yaml"
"$A" policy lint "$T/b" --trusted-key "$T/k.pub" 2>"$T/err"; [ $? -eq 3 ] || fail "tampered bundle accepted"
grep -q "bundle.sig:3:5: bad signature" "$T/err" || fail "tamper message: $(cat "$T/err")"
echo "policy e2e: ok"
