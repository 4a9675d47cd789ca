#!/usr/bin/env bash
# Provenance rules end to end: a reference corpus with a licence label,
# `policy check` naming file, line and licence of a copy, thresholds, the
# organisation's own indexed code not counting, a missing or damaged
# corpus index, and the example bundle's rule tests.
set -u
A=${AIRLOCK:?AIRLOCK must name the airlock binary}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
D="$T/data"
export AIRLOCK_LOG_LEVEL=error

"$A" provenance --help | grep -q "airlock provenance index --name NAME" || fail "provenance --help"

# A corpus file of 40 lines; generated texts copying 12 and 5 of them.
mkdir -p "$T/gpl/lib" "$T/org/src" "$T/b"
for i in $(seq 1 40); do printf '    table[%02d] = lookup_entry(map, "key_%02d", %d);\n' "$i" "$i" "$i"; done > "$T/gpl/lib/table.c"
for i in $(seq 1 40); do printf '\tledger_post(book, entry_%02d, AMOUNT_%02d);\n' "$i" "$i"; done > "$T/org/src/ledger.c"
{ printf 'void fill(void)\n{\n'; sed -n 11,22p "$T/gpl/lib/table.c" | sed 's/^    /\t/'; printf '}\n'; } > "$T/gen12.c"
{ printf 'void fill(void)\n{\n'; sed -n 11,13p "$T/gpl/lib/table.c"; printf '}\n'; } > "$T/gen3.c"
{ printf 'void post(void)\n{\n'; sed -n 5,16p "$T/org/src/ledger.c"; printf '}\n'; } > "$T/own12.c"
cat > "$T/b/org.yaml" <<'Y'
rules:
  - id: no-gpl-copies
    kind: provenance
    corpus: gpl
    action: block
    message: copies GPL code
Y

# Not built yet: the other rules still run, and a warning says how to build it.
printf 'k = "AKIAQYLPMN5HFIQR7XYZ"\n' >> "$T/gen12.c"
"$A" --data "$D" policy check --bundle "$T/b" "$T/gen12.c" >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 5 ] || fail "missing index: exit $rc, want 5 (the secret)"
grep -q "aws-access-key-id" "$T/out" || fail "missing index: other rules: $(cat "$T/out")"
grep -q "^airlock: policy check: warning: provenance index not built: run 'airlock provenance index --name gpl" "$T/err" || fail "missing index message: $(cat "$T/err")"
sed -i '$d' "$T/gen12.c"

# Bad arguments.
"$A" --data "$D" provenance index --name gpl "$T/gpl" 2>"$T/err"; [ $? -eq 2 ] || fail "no --licence: want 2"
"$A" --data "$D" provenance index --name ../x --licence MIT "$T/gpl" 2>"$T/err"; [ $? -eq 2 ] || fail "bad name: want 2"
grep -q "corpus name '../x'" "$T/err" || fail "bad name message: $(cat "$T/err")"
"$A" --data "$D" provenance index --name gpl --licence MIT "$T/nope" 2>"$T/err"; [ $? -eq 4 ] || fail "missing path: want 4"

# The organisation's own code goes into the ordinary index; the corpus apart.
"$A" --data "$D" index "$T/org" --name org >/dev/null 2>"$T/err" || fail "index org: $(cat "$T/err")"
"$A" --data "$D" provenance index --name gpl --licence GPL-3.0-only "$T/gpl" >"$T/out" 2>"$T/err" || fail "provenance index: $(cat "$T/err")"
grep -q "corpus gpl (GPL-3.0-only): 1 files" "$T/out" || fail "index summary: $(cat "$T/out")"
"$A" --data "$D" provenance list | grep -q "^gpl" || fail "list"

# 12 copied lines (re-indented): found, with file, line and licence.
"$A" --data "$D" policy check --bundle "$T/b" "$T/gen12.c" >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 5 ] || fail "12 lines: exit $rc, want 5 ($(cat "$T/out" "$T/err"))"
grep -q "gen12.c:3:2: block medium \[no-gpl-copies\] copies GPL code: lib/table.c:11 (GPL-3.0-only)" "$T/out" || fail "12 lines text: $(cat "$T/out")"
"$A" --data "$D" policy check --json --bundle "$T/b" "$T/gen12.c" >"$T/out" 2>/dev/null
grep -q '"kind":"provenance".*"line":3,.*"end_line":15,.*"detail":"lib/table.c:11 (GPL-3.0-only)"' "$T/out" || fail "json: $(cat "$T/out")"
# 3 lines (under 150 characters and 10 lines): nothing.
"$A" --data "$D" policy check --bundle "$T/b" "$T/gen3.c" >"$T/out" 2>&1; rc=$?
[ $rc -eq 0 ] || fail "3 lines: exit $rc, want 0 ($(cat "$T/out"))"
# Thresholds per rule: 3 lines fire with min_chars 100.
sed 's/    message: copies GPL code/    min_chars: 100\n    message: copies GPL code/' "$T/b/org.yaml" > "$T/b2.yaml"
"$A" --data "$D" policy check --bundle "$T/b2.yaml" "$T/gen3.c" >"$T/out" 2>&1; rc=$?
[ $rc -eq 5 ] || fail "min_chars 100: exit $rc, want 5 ($(cat "$T/out"))"
# The organisation's own code, copied: not a provenance finding.
"$A" --data "$D" policy check --bundle "$T/b" "$T/own12.c" >"$T/out" 2>&1; rc=$?
[ $rc -eq 0 ] || fail "own code: exit $rc, want 0 ($(cat "$T/out"))"

# A damaged index: refused, naming the corpus.
printf 'XXXX' | dd of="$D/provenance/gpl.sa" conv=notrunc status=none
"$A" --data "$D" policy check --bundle "$T/b" "$T/gen12.c" >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 3 ] || fail "damaged index: exit $rc, want 3"
grep -q "provenance corpus 'gpl': .*disagree (rebuild it with airlock provenance index)" "$T/err" || fail "damaged message: $(cat "$T/err")"

# The example bundle's rule tests, against its example corpus.
"$A" --data "$D" provenance index --name example-gpl --licence GPL-3.0-only "$ROOT/policy/examples/provenance/corpus" >/dev/null || fail "example corpus"
"$A" --data "$D" policy test "$ROOT/policy/examples/provenance" >"$T/out" 2>&1 || fail "example tests: $(cat "$T/out")"
grep -q "1 passed, 0 failed" "$T/out" || fail "example summary: $(cat "$T/out")"
echo "provenance e2e: ok"
