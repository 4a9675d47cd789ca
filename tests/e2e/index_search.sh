#!/usr/bin/env bash
# The context engine through the CLI: index a small repository, search,
# symbols, owners, docs, context (text and JSON), incremental re-index,
# bad paths, and an interrupted run that the next run completes.
set -u
A=${AIRLOCK:?AIRLOCK must name the airlock binary}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
D="$T/data"
R="$T/repo"
mkdir -p "$R/src" "$R/web" "$R/docs/adr" "$R/build"
printf 'build/\n*.tmp\n' > "$R/.gitignore"
cat > "$R/src/http.c" <<'C'
#include "http.h"
/* Parses one request line into out. */
int parse_http_request(const char *line, struct request *out)
{
	return line[0] == 'G' ? 0 : -1;
}
C
printf 'struct request { int method; };\nint parse_http_request(const char *line, struct request *out);\n' > "$R/src/http.h"
printf '#include "http.h"\nvoid serve(void)\n{\n\tstruct request r;\n\tparse_http_request("GET /", &r);\n}\n' > "$R/src/server.c"
printf "export function fetchUser(id) { return id; }\n" > "$R/web/api.js"
printf -- '---\ntitle: Strict HTTP parsing\nstatus: accepted\npaths: ["src/**"]\n---\nUse `parse_http_request` only.\n' > "$R/docs/adr/0001-http.md"
printf '* @platform\n/src/ @http-team\n' > "$R/CODEOWNERS"
printf 'int hidden;\n' > "$R/build/gen.c"
printf 'x\0y' > "$R/blob.bin"

"$A" --data "$D" index "$R" --name demo > "$T/out" 2>"$T/err" || fail "index: $(cat "$T/err")"
grep -q "^demo: 7 files indexed" "$T/out" || fail "index summary: $(cat "$T/out")"
grep -q "ignored=1" "$T/out" || fail "ignored count: $(cat "$T/out")"
grep -q "binary=1" "$T/out" || fail "binary count: $(cat "$T/out")"
# One summary line (no progress lines) when not a terminal, then the
# whole run's with the n-gram rebuild's share.
[ "$(grep -c ' files indexed' "$T/out")" -eq 1 ] || fail "one summary line when not a terminal"
grep -q "^total: [0-9.]* MB in [0-9.]* s .*; n-gram index: 1 rebuilt" "$T/out" || fail "total line: $(cat "$T/out")"
[ "$(wc -l < "$T/out")" -eq 2 ] || fail "two lines when not a terminal: $(cat "$T/out")"
[ -s "$D/context-ngram/parts" ] && [ -s "$D/context-ngram/1.sa" ] || fail "n-gram index not built"

"$A" --data "$D" search parseHttpRequest > "$T/out" || fail "search"
grep -q "demo/src/http.c" "$T/out" || fail "search finds the split identifier: $(cat "$T/out")"
"$A" --data "$D" symbols parse_http_request > "$T/out" || fail "symbols"
head -n 1 "$T/out" | grep -q "demo/src/http.c:3-6	function	int parse_http_request" || fail "symbols: $(cat "$T/out")"
"$A" --data "$D" symbols no_such_symbol > /dev/null; [ $? -eq 1 ] || fail "symbols miss exit code"
"$A" --data "$D" owners src/server.c | grep -q "^@http-team" || fail owners
"$A" --data "$D" owners README | grep -q "^@platform" || fail "owners default"
"$A" --data "$D" docs src/server.c | grep -q "^adr	accepted	Strict HTTP parsing" || fail docs

printf '#include "http.h"\nint main(void)\n{\n\tstruct request r;\n\treturn parse_http_request(' > "$T/prefix"
printf ');\n}\n' > "$T/suffix"
"$A" --data "$D" context --repo demo --path src/main.c --prefix-file "$T/prefix" \
  --suffix-file "$T/suffix" --json > "$T/out" || fail "context --json"
for k in '"path": "src/http.c"' '"start_line"' '"end_line"' '"score"' '"kind"' '"text"'; do
  grep -q "$k" "$T/out" || fail "context JSON lacks $k: $(head -c 600 "$T/out")"
done
"$A" --data "$D" context --repo demo --path src/http.c --prefix-file "$T/prefix" --json > "$T/out" || fail "context 2"
grep -q '"path": "src/http.c"' "$T/out" && fail "context returned the file being edited"
"$A" --data "$D" context --repo demo --path x.c 2>/dev/null; [ $? -eq 2 ] || fail "context usage exit code"

# Incremental: nothing changed, then one file changed.
"$A" --data "$D" index "$R" --name demo > "$T/out" || fail "re-index"
grep -q "^demo: 0 files indexed" "$T/out" || fail "re-index read files: $(cat "$T/out")"
printf 'void serve_v2(void) { }\n' > "$R/src/server.c"
"$A" --data "$D" index "$R" --name demo > "$T/out" || fail "re-index 2"
grep -q "^demo: 1 files indexed" "$T/out" || fail "re-index changed: $(cat "$T/out")"
"$A" --data "$D" symbols serve_v2 | grep -q "src/server.c" || fail "changed symbol"

# Bad paths.
"$A" --data "$D" index "$T/nonexistent" 2>"$T/err"; [ $? -eq 4 ] || fail "nonexistent path exit code"
grep -q "no such directory" "$T/err" || fail "nonexistent path message: $(cat "$T/err")"
"$A" --data "$D" index 2>/dev/null; [ $? -eq 2 ] || fail "index without path"

# kill -9 in the middle of a big run leaves a usable index; a rerun completes.
mkdir -p "$R/many"
for i in $(seq 1 400); do printf 'int fn_%d(int x) { return x + %d; }\n' "$i" "$i" > "$R/many/f$i.c"; done
AIRLOCK_CONTEXT_BATCH_FILES=8 "$A" --data "$D" index "$R" --name demo --threads 1 > /dev/null 2>&1 &
pid=$!
sleep 0.3
kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
"$A" --data "$D" symbols parse_http_request > /dev/null || fail "index unusable after kill -9"
"$A" --data "$D" index "$R" --name demo > "$T/out" || fail "index after kill -9"
"$A" --data "$D" symbols fn_400 | grep -q "many/f400.c" || fail "rerun did not complete: $(cat "$T/out")"
"$A" --data "$D" index "$R" --name demo > "$T/out"
grep -q "^demo: 0 files indexed" "$T/out" || fail "third run not clean: $(cat "$T/out")"
echo ok
