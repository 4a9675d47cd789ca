#!/usr/bin/env bash
# Context engine figures on real code nobody wrote for the test: this
# repository's sources (C), npm's own sources (JavaScript, from the
# system's npm), CPython's standard library packages (Python), and the
# grammar packages' JavaScript. Prints indexing MB/s (the whole runs'
# wall time first, then the runs' own figures) and files/s, index
# size / source size, retrieval recall@1/5/10 and MRR for BM25 alone and
# for the hybrid (masked-call tasks), and query p50/p99.
#   CONTEXT_BENCH_SCALE=1   also index all of /usr/lib/python3.* (about
#                           300k lines) and measure query latency at that
#                           size, the same corpora indexed again in one
#                           process, and the floor under indexing's CPU per
#                           MB (tree-sitter's parse and the suffix-array
#                           sort alone over the same files,
#                           bench/context_floor.c, then with the store's
#                           writes and compaction as the runs logged them)
#   CONTEXT_BENCH_SCALE=2   and /usr/lib/python3/dist-packages and
#                           /usr/lib/node_modules too (about 1M lines)
#   CONTEXT_BENCH_TASKS=N   masked-call tasks per store (default 300; more
#                           narrows the sampling error, about 0.03 at 300)
# context-bench prints recall for the even-numbered tasks (the fusion
# weights were tuned on them) and the odd-numbered (held out) apart.
set -u
A=${AIRLOCK:?AIRLOCK must name the airlock binary}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
D="$T/data"
root=$(cd "$(dirname "$0")/.." && pwd)

corpora=("$root/src:airlock")
[ -d /usr/lib/node_modules/npm/lib ] && corpora+=("/usr/lib/node_modules/npm/lib:npm")
py=$(ls -d /usr/lib/python3.[0-9]* 2>/dev/null | head -n 1)
for p in asyncio email http json logging concurrent importlib xml unittest; do
  [ -d "$py/$p" ] && corpora+=("$py/$p:py-$p")
done
for g in "$root"/.deps/grammars/node_modules/tree-sitter-*/bindings/node; do
  [ -d "$g" ] && corpora+=("$g:$(basename "$(dirname "$(dirname "$g")")")-js")
done

# The headline is the whole runs' wall time: what the user waits for
# (process start, walk, parse, write, the store's compaction and the
# n-gram rebuild, which runs after the repository's own summary line).
# Beside it: what each run reports for its own repository (walk, parse,
# write: wall seconds, and the CPU seconds of all its threads, the fair
# figure on a shared machine), and the whole runs' CPU.
bytes=0 files=0 secs=0 cpu=0 icpu=0 wall=0
TIMEFORMAT=%U+%S
for c in "${corpora[@]}"; do
  dir=${c%%:*} name=${c##*:}
  w0=$(date +%s%N)
  { t=$( { time "$A" --data "$D" index "$dir" --name "$name" > "$T/out" 2>&1; } 2>&1 ); } || { echo "index $dir failed: $(cat "$T/out")"; continue; }
  w1=$(date +%s%N)
  wall=$(echo "scale=3; $wall + ($w1 - $w0) / 1000000000" | bc)
  cpu=$(echo "$cpu + $t" | bc)
  # The repository's summary line (the closing total line follows it).
  out=$(grep ' files indexed' "$T/out")
  b=$(printf '%s\n' "$out" | sed -n 's/.*; \([0-9.]*\) MB in \([0-9.]*\) s.*/\1/p')
  s=$(printf '%s\n' "$out" | sed -n 's/.*; \([0-9.]*\) MB in \([0-9.]*\) s.*/\2/p')
  f=$(printf '%s\n' "$out" | sed -n 's/^[^:]*: \([0-9]*\) files indexed.*/\1/p')
  u=$(printf '%s\n' "$out" | sed -n 's/.*, \([0-9.]*\) s CPU).*/\1/p')
  bytes=$(echo "$bytes + ${b:-0}" | bc) files=$((files + ${f:-0})) secs=$(echo "$secs + ${s:-0}" | bc)
  icpu=$(echo "$icpu + ${u:-0}" | bc)
done
echo "machine load: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs (figures scale with it)"
db=$(stat -c %s "$D/airlock.db")
ng=$(find "$D/context-ngram" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
echo "indexed ${#corpora[@]} repositories: $files files, $bytes MB in $wall s of whole runs ($secs s in the runs' own figures)"
echo "indexing, whole runs: $(echo "scale=2; $bytes / $wall" | bc | sed 's/^\./0./') MB/s wall," \
  "$(echo "scale=2; $bytes / $cpu" | bc) MB per CPU-second (user+sys, n-gram rebuilds included)"
echo "indexing, the runs' own figures (walk, parse, write): $(echo "scale=2; $bytes / $secs" | bc) MB/s," \
  "$(echo "scale=0; $files / $secs" | bc) files/s (wall);" \
  "$( [ "$icpu" != 0 ] && echo "scale=2; $bytes / $icpu" | bc) MB per CPU-second"
echo "store (airlock.db): $(echo "scale=2; $db / ($bytes * 1000000)" | bc) x source; n-gram index: $(echo "scale=2; $ng / ($bytes * 1000000)" | bc) x source"
t0=$(date +%s%N); "$A" --data "$D" index "$root/src" --name airlock > /dev/null 2> "$T/err" || cat "$T/err"; t1=$(date +%s%N)
echo "no-change re-index of airlock: $(( (t1 - t0) / 1000000 )) ms"
"$A" --data "$D" context-bench --tasks "${CONTEXT_BENCH_TASKS:-300}"

if [ "${CONTEXT_BENCH_SCALE:-0}" -ge 1 ] && [ -n "$py" ]; then
  echo "-- scale: all of $py"
  scale=("$py:python-stdlib")
  if [ "${CONTEXT_BENCH_SCALE}" -ge 2 ]; then
    [ -d /usr/lib/python3/dist-packages ] && scale+=("/usr/lib/python3/dist-packages:python-dist")
    [ -d /usr/lib/node_modules ] && scale+=("/usr/lib/node_modules:node-modules")
  fi
  lines=0 sb=0 ss=0 su=0 sw=0 sc=0 wr=0 cm=0
  # Debug events give the store's share: index.phases' writer_cpu_ms (the
  # writer thread: SQLite's inserts, the FTS5 index and the commits) and
  # context.compact's merge_ms + vacuum_ms (on a thread of its own).
  printf 'log:\n  level: debug\n' > "$T/debug.yaml"
  for c in "${scale[@]}"; do
    dir=${c%%:*} name=${c##*:}
    w0=$(date +%s%N)
    t=$( { time "$A" --config "$T/debug.yaml" --data "$D" index "$dir" --name "$name" > "$T/out" 2>&1; } 2>&1 )
    w1=$(date +%s%N)
    sw=$(echo "scale=3; $sw + ($w1 - $w0) / 1000000000" | bc) sc=$(echo "$sc + $t" | bc)
    wr=$((wr + $(sed -n 's/.*"event":"index.phases".*"writer_cpu_ms":\([0-9]*\).*/\1/p' "$T/out" | awk '{ s += $1 } END { print s + 0 }')))
    cm=$((cm + $(sed -n 's/.*"event":"context.compact".*"merge_ms":\([0-9]*\),"vacuum_ms":\([0-9]*\).*/\1 \2/p' "$T/out" | awk '{ s += $1 + $2 } END { print s + 0 }')))
    echo "$(grep -v '^{' "$T/out") [CPU $t s, wall $(echo "scale=2; ($w1 - $w0) / 1000000000" | bc) s]"
    out=$(grep ' files indexed' "$T/out")
    sb=$(echo "$sb + $(printf '%s\n' "$out" | sed -n 's/.*; \([0-9.]*\) MB in \([0-9.]*\) s.*/\1/p')" | bc)
    ss=$(echo "$ss + $(printf '%s\n' "$out" | sed -n 's/.*; \([0-9.]*\) MB in \([0-9.]*\) s.*/\2/p')" | bc)
    su=$(echo "$su + $(printf '%s\n' "$out" | sed -n 's/.*, \([0-9.]*\) s CPU).*/\1/p')" | bc)
    n=$(find "$dir" -type f \( -name '*.py' -o -name '*.js' -o -name '*.ts' -o -name '*.c' -o -name '*.h' \) \
        -not -path '*/__pycache__/*' -print0 | xargs -0 cat | wc -l)
    lines=$((lines + n))
  done
  echo "scale corpus: about $lines lines of code; store $(stat -c %s "$D/airlock.db") bytes"
  echo "scale indexing, whole runs (n-gram rebuilds included): $sb MB in $sw s: $(echo "scale=2; $sb / $sw" | bc) MB/s wall," \
    "$(echo "scale=2; $sb / $sc" | bc) MB per CPU-second (user+sys)"
  echo "scale indexing, the runs' own figures: $sb MB in $ss s: $(echo "scale=2; $sb / $ss" | bc) MB/s wall," \
    "$(echo "scale=2; $sb / $su" | bc) MB per CPU-second of indexing"
  echo "store of all: $(echo "scale=2; $(stat -c %s "$D/airlock.db") / (($bytes + $sb) * 1000000)" | bc) x the source indexed"
  # The same corpora in one process, into a store of their own: what a
  # first index of several repositories costs (start, compaction and
  # n-gram build once).
  dirs=()
  for c in "${scale[@]}"; do dirs+=("${c%%:*}"); done
  w0=$(date +%s%N)
  t=$( { time "$A" --data "$T/one" index "${dirs[@]}" > "$T/out" 2>&1; } 2>&1 ) || echo "one-process index failed: $(tail -n 3 "$T/out")"
  w1=$(date +%s%N)
  ow=$(echo "scale=3; ($w1 - $w0) / 1000000000" | bc)
  echo "scale indexing, the same in one process: $sb MB in $ow s: $(echo "scale=2; $sb / $ow" | bc) MB/s wall," \
    "$(echo "scale=2; $sb / ($t)" | bc) MB per CPU-second (user+sys); $(grep '^total' "$T/out" | sed 's/.*n-gram index: /n-gram index: /')"
  rm -rf "$T/one"
  # What two of indexing's parts cost alone over the same files (bench/
  # context_floor.c): a floor under the CPU per MB above.
  B=${BUILD_DIR:-$(dirname "$A")}
  if ${CC:-cc} -std=c17 -D_GNU_SOURCE -O2 -I"$root/src" -o "$T/context_floor" "$root/bench/context_floor.c" \
      "$B/libairlock.a" -ltree-sitter -ldivsufsort -lsqlite3 -lm -pthread 2> "$T/cc.err"; then
    "$T/context_floor" "$D" | tee "$T/floor"
    # The floor with the store's part added, as the scale runs logged it
    # (per MB of the scale corpora; the floor is per MB of the whole store).
    f=$(sed -n 's/^floor: \([0-9.]*\) CPU-s per MB.*/\1/p' "$T/floor")
    if [ -n "$f" ]; then
      z() { sed 's/^\./0./'; }
      w=$(echo "scale=4; $wr / 1000 / $sb" | bc | z) k=$(echo "scale=4; $cm / 1000 / $sb" | bc | z)
      a=$(echo "scale=4; $f + $w + $k" | bc | z)
      echo "floor with the store's part: + the writer thread's $(echo "scale=2; $wr / 1000" | bc | z) CPU-s" \
        "($w per MB) + the compaction's $(echo "scale=2; $cm / 1000" | bc | z) s ($k per MB) = $a CPU-s per MB:" \
        "at most $(echo "scale=1; 2 / $a" | bc | z) MB/s on 2 CPUs (the whole runs took" \
        "$(echo "scale=4; $sc / $sb" | bc | z) CPU-s per MB)"
    fi
  else
    echo "context_floor: not built: $(head -n 3 "$T/cc.err")"
  fi
  "$A" --data "$D" context-bench --tasks "${CONTEXT_BENCH_TASKS:-300}"
fi
