#!/usr/bin/env bash
# audit.bench.sh - durable appends/s (8 writers with group commit vs one
# writer, one fsync per record), the same with fsync off, and the time to
# verify a log of 1M records. Runs in $AUDIT_BENCH_DIR (default: a fresh
# directory under /var/tmp, i.e. on disk, so fsync is real).
set -u
base=${AUDIT_BENCH_DIR:-/var/tmp}
d=$(mktemp -d "$base/airlock-audit-bench.XXXXXX")
trap 'rm -rf "$d"' EXIT
echo "# $AIRLOCK --data $d audit bench --records ${AUDIT_BENCH_RECORDS:-1000000} --durable ${AUDIT_BENCH_DURABLE:-20000}"
"$AIRLOCK" --data "$d" audit bench --records "${AUDIT_BENCH_RECORDS:-1000000}" \
  --durable "${AUDIT_BENCH_DURABLE:-20000}"
