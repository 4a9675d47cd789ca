#!/usr/bin/env bash
# audit.sh - the audit CLI end to end: build a log (through `audit bench`,
# which writes real logs), verify it, show/query/export/proof/consistency,
# then change one byte of a segment and check verify names that record.
set -u
A=${AIRLOCK:?}
D=$(mktemp -d /tmp/airlock-e2e-audit.XXXXXX)
trap 'rm -rf "$D"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$A" --data "$D" audit bench --records 304 --durable 16 >/dev/null 2>&1 || fail "bench"
L="$D/bench-verify"
out=$("$A" --data "$L" audit verify) || fail "verify of a good log: $out"
echo "$out" | grep -q "records: 304" || fail "verify count: $out"
[ "$("$A" --data "$L" audit export --format jsonl | wc -l)" -eq 304 ] || fail "export count"
"$A" --data "$L" audit show 7 | grep -q '"seq":7' || fail "show 7"
"$A" --data "$L" audit checkpoint | head -n 2 | tail -n 1 | grep -qx 304 || fail "checkpoint size"
"$A" --data "$L" audit proof 42 | grep -q '"treeSize": 304' || fail "proof"
"$A" --data "$L" audit consistency 10 304 | grep -q "\"size2\": 304" || fail "consistency"
"$A" --data "$L" audit proof 304 >/dev/null 2>&1 && fail "proof beyond the tree accepted"
"$A" --data "$L" audit query --since 2001-01-01 --until 2002-01-01 | grep -q . && fail "empty range"

# A checkpoint kept elsewhere, and the verifier key kept elsewhere.
"$A" --data "$L" audit checkpoint >"$D/kept.ckpt" || fail "checkpoint to file"
cp "$L/keys/audit.pub" "$D/kept.pub"
out=$("$A" --data "$L" audit verify --from-checkpoint "$D/kept.ckpt" --key "$D/kept.pub") ||
  fail "verify --from-checkpoint: $out"
sed -i 's/^304$/303/' "$D/kept.ckpt"
"$A" --data "$L" audit verify --from-checkpoint "$D/kept.ckpt" | grep -q "given checkpoint" ||
  fail "an altered external checkpoint was accepted"

# Flip one byte inside record 5's payload: verify must fail and name it.
seg=$(ls "$L"/audit/seg-*.log | head -n 1)
off=$((16 + 5 * $(( 25 + $(head -c 20 "$seg" | tail -c 4 | od -An -tu4 | tr -d ' ') )) + 30))
printf 'Z' | dd of="$seg" bs=1 seek="$off" conv=notrunc status=none
out=$("$A" --data "$L" audit verify); rc=$?
[ $rc -eq 1 ] || fail "tampered log: exit $rc, want 1: $out"
echo "$out" | grep -q "FIRST BAD: record 5 " || fail "tampered log: wrong report: $out"
echo "$out" | grep -q "CRC mismatch" || fail "tampered log: no reason: $out"
echo "audit e2e ok"
