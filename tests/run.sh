#!/usr/bin/env bash
# Runs every test binary of the given build folders (build/release, ...)
# and the end-to-end scripts in tests/e2e/ against each folder's airlock,
# then prints one closing line: "N passed, N failed, N skipped".
#
# Unit tests are cmocka binaries run with TAP output; an e2e script passes
# with exit 0, skips with 77, fails otherwise. TESTS=pattern limits which
# binaries and scripts run (substring match).
set -u
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- build/release

pass=0 fail=0 skip=0
failed=()
log=$(mktemp -d /tmp/airlock-tests.XXXXXX)
export CMOCKA_MESSAGE_OUTPUT=TAP
export AIRLOCK_SHARED=${AIRLOCK_SHARED:-$(cd .. && pwd)/shared}

for dir in "$@"; do
  variant=$(basename "$dir")
  for t in "$dir"/tests/test_*; do
    [ -x "$t" ] || continue
    name="$variant/$(basename "$t")"
    case "$name" in *"${TESTS:-}"*) ;; *) continue ;; esac
    out="$log/${name//\//_}.log"
    start=$(date +%s)
    "$t" >"$out" 2>&1
    rc=$?
    # cmocka's TAP: "ok N - name", "not ok N - name", "not ok N # SKIP name".
    s=$(grep -cE '^(not )?ok [0-9]+ # SKIP' "$out")
    p=$(grep -E '^ok [0-9]+' "$out" | grep -cvE '# SKIP')
    f=$(grep -E '^not ok [0-9]+' "$out" | grep -cvE '# SKIP')
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
      f=1  # crashed or sanitizer error outside a test
    fi
    pass=$((pass + p)) skip=$((skip + s)) fail=$((fail + f))
    printf '%-40s %4d passed %3d failed %3d skipped  (%ds)\n' "$name" "$p" "$f" "$s" $(( $(date +%s) - start ))
    if [ "$f" -gt 0 ]; then
      failed+=("$name")
      grep -vE '^ok [0-9]+' "$out" | tail -n 60 | sed 's/^/    /'
    fi
    # Say why tests were skipped (the harness prints "SKIP: reason").
    [ "$s" -eq 0 ] || grep -h '^SKIP: ' "$out" | sort -u | head -n 5 | sed 's/^/    /'
  done
  for e in tests/e2e/*.sh; do
    [ -f "$e" ] || continue
    name="$variant/e2e/$(basename "$e" .sh)"
    case "$name" in *"${TESTS:-}"*) ;; *) continue ;; esac
    out="$log/${name//\//_}.log"
    start=$(date +%s)
    AIRLOCK="$PWD/$dir/airlock" BUILD_DIR="$PWD/$dir" bash "$e" >"$out" 2>&1
    rc=$?
    case $rc in
      0) pass=$((pass + 1)); r=passed ;;
      77) skip=$((skip + 1)); r="skipped: $(tail -n 1 "$out")" ;;
      *) fail=$((fail + 1)); r=FAILED; failed+=("$name") ;;
    esac
    printf '%-40s %s  (%ds)\n' "$name" "$r" $(( $(date +%s) - start ))
    [ $rc -eq 0 ] || [ $rc -eq 77 ] || tail -n 40 "$out" | sed 's/^/    /'
  done
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "failed: ${failed[*]} (logs in $log)"
else
  rm -rf "$log"
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
