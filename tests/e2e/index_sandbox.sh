#!/usr/bin/env bash
# `airlock index` runs locked down: it reports the sandbox in force, indexes
# as before, and from inside the process (after lockdown: a preloaded
# realpath() runs the probes, since ctx_index_repo calls it once the
# sandbox is on) a write outside the data directory and a read outside the
# repository fail with EACCES while a write inside the data directory
# works. Needs Landlock with filesystem rules; skips without it.
set -u
A=${AIRLOCK:?AIRLOCK must name the airlock binary}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export AIRLOCK_DATA="$T/data" AIRLOCK_LOG_LEVEL=info
mkdir -p "$T/repo" "$T/outside"
printf 'int scale(int x, int k)\n{\n\treturn x * k;\n}\n' > "$T/repo/util.c"
echo secret > "$T/outside/secret.txt"

"$A" index "$T/repo" --name demo --allow-unsandboxed >"$T/out" 2>"$T/err" || fail "index: $(cat "$T/err")"
grep -q '^demo: 1 files indexed' "$T/out" || fail "index output: $(cat "$T/out")"
grep '"event":"index.sandbox"' "$T/err" > "$T/sbx" || fail "no index.sandbox event: $(cat "$T/err")"
grep -q '"landlock_fs":true' "$T/sbx" ||
  { echo "Landlock filesystem rules unavailable here: $(cat "$T/sbx")"; exit 77; }
grep -q '"unsandboxed":false' "$T/sbx" || fail "index ran unsandboxed on a kernel with Landlock: $(cat "$T/sbx")"
"$A" search scale >"$T/s" 2>/dev/null && grep -q util.c "$T/s" || fail "search after a sandboxed index: $(cat "$T/s")"

CC=${CC:-cc}
command -v "$CC" >/dev/null || { echo "no C compiler ($CC) for the in-process probe"; exit 77; }
cat > "$T/probe.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Runs once, at the first realpath() of the process (after lockdown in
 * `airlock index`), and prints one line per probe: name and errno (0: ok). */
static void probe(const char *name, const char *path, int flags)
{
	int fd = open(path, flags, 0600);

	fprintf(stderr, "probe %s %d\n", name, fd < 0 ? errno : 0);
	if (fd >= 0)
		close(fd);
}

char *realpath(const char *path, char *resolved)
{
	static int done;
	char *(*real)(const char *, char *) =
		(char *(*)(const char *, char *))dlsym(RTLD_NEXT, "realpath");

	if (!done && getenv("PROBE_DIR")) {
		char p[4096];

		done = 1;
		snprintf(p, sizeof p, "%s/outside/planted", getenv("PROBE_DIR"));
		probe("write_outside", p, O_WRONLY | O_CREAT);
		snprintf(p, sizeof p, "%s/outside/secret.txt", getenv("PROBE_DIR"));
		probe("read_outside", p, O_RDONLY);
		snprintf(p, sizeof p, "%s/data/probe", getenv("PROBE_DIR"));
		probe("write_data", p, O_WRONLY | O_CREAT);
		snprintf(p, sizeof p, "%s/repo/util.c", getenv("PROBE_DIR"));
		probe("read_repo", p, O_RDONLY);
	}
	return real(path, resolved);
}
C
"$CC" -shared -fPIC -o "$T/probe.so" "$T/probe.c" -ldl 2>"$T/cc.err" ||
  { echo "cannot build the probe library: $(head -3 "$T/cc.err")"; exit 77; }
# ASan wants to be first in the library list; the probe only interposes.
PROBE_DIR="$T" LD_PRELOAD="$T/probe.so" ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
  AIRLOCK_LOG_LEVEL=warn "$A" index "$T/repo" --name demo --allow-unsandboxed >/dev/null 2>"$T/perr" ||
  fail "index with the probe: $(cat "$T/perr")"
grep -q '^probe ' "$T/perr" || fail "the probe did not run: $(cat "$T/perr")"
EACCES=13
grep -qx "probe write_outside $EACCES" "$T/perr" || fail "write outside the data directory: $(cat "$T/perr")"
[ -e "$T/outside/planted" ] && fail "a file was created outside the data directory"
grep -qx "probe read_outside $EACCES" "$T/perr" || fail "read outside the repository: $(cat "$T/perr")"
grep -qx "probe write_data 0" "$T/perr" || fail "write in the data directory: $(cat "$T/perr")"
grep -qx "probe read_repo 0" "$T/perr" || fail "read in the repository: $(cat "$T/perr")"
echo ok
