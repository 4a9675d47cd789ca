#!/usr/bin/env bash
# Builds the offline bundle a customer carries across the air gap:
#
#   dist/airlock-<version>-linux-<arch>.tar.gz
#     airlock-<version>-linux-<arch>/
#       bin/airlock                 the binary of build folder $1
#       source/                     the source tree it was built from
#       grammars/node_modules/tree-sitter-*/   grammar sources compiled in
#                                   (package.json, LICENSE, src/ only)
#       docs/, deploy/              documentation, systemd unit
#       BUILD-OFFLINE.md            how to rebuild without any network
#       sbom.cdx.json               CycloneDX 1.5 SBOM generated from this build
#       SHA256SUMS                  checksum of every other file
#       SHA256SUMS.sig              Ed25519 signature over SHA256SUMS
#
# usage: scripts/dist.sh [BUILD_DIR] [--key FILE] [--out DIR]
# The signing key is --key, else $AIRLOCK_BUNDLE_KEY, else
# <data>/keys/bundle.key (created with `airlock keygen` when absent). The
# public key (FILE.pub) must reach the customer by another channel; they run
# `airlock verify-bundle TARBALL --pubkey FILE.pub` before installing.
set -euo pipefail
cd "$(dirname "$0")/.."

O=build/release
KEY=${AIRLOCK_BUNDLE_KEY:-}
OUT=${DIST_DIR:-dist}
while [ $# -gt 0 ]; do
  case "$1" in
    --key) KEY=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//;/^set -e/d'; exit 0 ;;
    -*) echo "dist: unknown option $1" >&2; exit 2 ;;
    *) O=$1; shift ;;
  esac
done

BIN=$O/airlock
[ -x "$BIN" ] || { echo "dist: $BIN is missing; run make first" >&2; exit 1; }
VERSION=$(cat VERSION)
ARCH=$(uname -m)
NAME=airlock-$VERSION-linux-$ARCH
GRAMMARS=.deps/grammars/node_modules
if [ -z "$KEY" ]; then
  DATA=${AIRLOCK_DATA:-${XDG_DATA_HOME:-$HOME/.local/share}/airlock}
  KEY=$DATA/keys/bundle.key
fi
if [ ! -f "$KEY" ]; then
  mkdir -p "$(dirname "$KEY")"
  echo "dist: no signing key at $KEY; creating one"
  "$BIN" keygen "$KEY"
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
S=$WORK/$NAME
mkdir -p "$S/bin" "$S/source" "$S/grammars/node_modules"
cp "$BIN" "$S/bin/airlock"
chmod 0755 "$S/bin/airlock"

# Source: the files git tracks (plus uncommitted edits to them), or, in a
# tree unpacked from a bundle, the same folders without git.
if git rev-parse --git-dir >/dev/null 2>&1; then
  git ls-files -z | xargs -0 -I{} cp --parents -P {} "$S/source/"
  REV=$(git rev-parse HEAD)
  DIRTY=$(git status --porcelain --untracked-files=no | grep -q . && echo true || echo false)
else
  for f in Makefile VERSION README.md .gitignore .ci src tests scripts docs deploy fuzz bench; do
    [ -e "$f" ] && cp -a --parents "$f" "$S/source/"
  done
  REV=$(cat source-revision 2>/dev/null || echo unknown)
  DIRTY=unknown
fi
echo "$REV" > "$S/source/source-revision"

# Grammars: exactly the packages the Makefile compiled in.
[ -d "$GRAMMARS" ] || { echo "dist: $GRAMMARS is missing; run scripts/deps.sh" >&2; exit 1; }
for g in "$GRAMMARS"/tree-sitter-*; do
  n=$(basename "$g")
  d=$S/grammars/node_modules/$n
  mkdir -p "$d"
  cp "$g/package.json" "$d/"
  cp "$g"/LICENSE* "$d/" 2>/dev/null || true
  [ -d "$g/src" ] && cp -a "$g/src" "$d/"
  for sub in "$g"/*/src; do          # tree-sitter-typescript: typescript/, tsx/
    [ -d "$sub" ] || continue
    mkdir -p "$d/$(basename "$(dirname "$sub")")"
    cp -a "$sub" "$d/$(basename "$(dirname "$sub")")/"
  done
  [ -d "$g/common" ] && cp -a "$g/common" "$d/"
done

mkdir -p "$S/docs"
[ -d docs ] && cp -a docs/. "$S/docs/"
[ -f README.md ] && cp README.md "$S/docs/"
[ -d deploy ] && cp -a deploy "$S/"

cat > "$S/BUILD-OFFLINE.md" <<EOF
# Building airlock $VERSION without network access

Everything the build needs from outside Debian is in this bundle: the source
(\`source/\`) and the tree-sitter grammar sources (\`grammars/\`), pinned at the
versions in sbom.cdx.json. Debian packages come from your mirror.

1. Verify the bundle first: \`bin/airlock verify-bundle . --pubkey airlock-bundle.pub\`
   (with the public key you received separately).
2. Install the Debian packages listed in \`source/scripts/deps.sh\` from your
   mirror (\`apt-get install ...\`).
3. Put the grammars where the build looks for them, then build and test:

       cd source
       mkdir -p .deps/grammars
       cp -a ../grammars/node_modules .deps/grammars/
       make            # build/release/airlock
       make test       # scripts/deps.sh finds everything present: no download

   Or build without copying: \`make GRAMMAR_DIR=\$PWD/../grammars/node_modules\`.
EOF

# ---- SBOM (CycloneDX 1.5), from this build -----------------------------
json() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
deb_of() {   # path -> "package version" (empty when not from a package)
  local p
  p=$(dpkg-query -S "$1" 2>/dev/null | head -n 1 | cut -d: -f1) || true
  if [ -z "$p" ] && [ -e "$1" ]; then
    p=$(dpkg-query -S "$(readlink -f "$1")" 2>/dev/null | head -n 1 | cut -d: -f1) || true
  fi
  [ -n "$p" ] && printf '%s %s' "$p" "$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null | head -n 1)"
}
DEBARCH=$(dpkg --print-architecture 2>/dev/null || echo "$ARCH")
PKGS=${AIRLOCK_PKGS:-$(make -s --no-print-directory --eval='sbom-pkgs: ; @echo $(PKGS)' sbom-pkgs)}
comps=()
refs=()
# Libraries the build asked pkg-config for (the Makefile's PKGS).
for m in $PKGS; do
  v=$(pkg-config --modversion "$m")
  pc=$(pkg-config --variable=pcfiledir "$m")/$m.pc
  read -r dp dv <<<"$(deb_of "$pc")" || true
  ref="pkgconfig:$m"
  purl=""
  [ -n "${dp:-}" ] && purl=",\"purl\":\"pkg:deb/debian/$(json "$dp")@$(json "$dv")?arch=$DEBARCH\""
  comps+=("{\"type\":\"library\",\"bom-ref\":\"$(json "$ref")\",\"name\":\"$(json "$m")\",\"version\":\"$(json "$v")\"$purl,\"scope\":\"required\",\"properties\":[{\"name\":\"airlock:source\",\"value\":\"pkg-config --modversion\"},{\"name\":\"debian:package\",\"value\":\"$(json "${dp:-}")\"},{\"name\":\"debian:version\",\"value\":\"$(json "${dv:-}")\"}]}")
  refs+=("$ref")
done
# Every shared library the binary loads (ldd: the full closure).
while read -r soname path; do
  [ -n "$path" ] || continue
  read -r dp dv <<<"$(deb_of "$path")" || true
  ref="so:$soname"
  purl=""
  [ -n "${dp:-}" ] && purl=",\"purl\":\"pkg:deb/debian/$(json "$dp")@$(json "$dv")?arch=$DEBARCH\""
  comps+=("{\"type\":\"library\",\"bom-ref\":\"$(json "$ref")\",\"name\":\"$(json "${dp:-$soname}")\",\"version\":\"$(json "${dv:-unknown}")\"$purl,\"scope\":\"required\",\"properties\":[{\"name\":\"airlock:source\",\"value\":\"ldd (linked shared library)\"},{\"name\":\"elf:soname\",\"value\":\"$(json "$soname")\"},{\"name\":\"elf:path\",\"value\":\"$(json "$path")\"}]}")
  refs+=("$ref")
done < <(ldd "$BIN" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 } $1 ~ /^\// { print $1, $1 }')
# Grammars compiled into the binary.
for g in "$S"/grammars/node_modules/tree-sitter-*; do
  n=$(basename "$g")
  v=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$g/package.json" | head -n 1)
  lic=$(sed -n 's/^ *"license": *"\([^"]*\)".*/\1/p' "$g/package.json" | head -n 1)
  ref="npm:$n"
  comps+=("{\"type\":\"library\",\"bom-ref\":\"$(json "$ref")\",\"name\":\"$(json "$n")\",\"version\":\"$(json "$v")\",\"purl\":\"pkg:npm/$(json "$n")@$(json "$v")\",\"scope\":\"required\"$( [ -n "$lic" ] && printf ',"licenses":[{"license":{"id":"%s"}}]' "$(json "$lic")"),\"properties\":[{\"name\":\"airlock:source\",\"value\":\"grammar package.json (compiled in)\"}]}")
  refs+=("$ref")
done
{
  printf '{"bomFormat":"CycloneDX","specVersion":"1.5","serialNumber":"urn:uuid:%s","version":1,\n' \
    "$(cat /proc/sys/kernel/random/uuid)"
  printf '"metadata":{"timestamp":"%s","tools":{"components":[{"type":"application","name":"airlock scripts/dist.sh"}]},' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  printf '"component":{"type":"application","bom-ref":"airlock","name":"airlock","version":"%s","properties":[{"name":"airlock:git_revision","value":"%s"},{"name":"airlock:worktree_modified","value":"%s"},{"name":"airlock:build_dir","value":"%s"},{"name":"airlock:sha256","value":"%s"}]}},\n' \
    "$(json "$VERSION")" "$(json "$REV")" "$DIRTY" "$(json "$O")" "$(sha256sum "$BIN" | cut -d' ' -f1)"
  printf '"components":[\n'
  for i in "${!comps[@]}"; do
    [ "$i" -gt 0 ] && printf ',\n'
    printf '%s' "${comps[$i]}"
  done
  printf '\n],\n"dependencies":[{"ref":"airlock","dependsOn":['
  for i in "${!refs[@]}"; do
    [ "$i" -gt 0 ] && printf ','
    printf '"%s"' "$(json "${refs[$i]}")"
  done
  printf ']}]}\n'
} > "$S/sbom.cdx.json"

# ---- checksums, signature, tarball ---------------------------------------
if [ -n "$(find "$S" -type l -o -type p -o -type s -o -type b -o -type c | head -n 1)" ]; then
  echo "dist: the bundle may hold only files and directories:" >&2
  find "$S" -type l -o -type p -o -type s -o -type b -o -type c >&2
  exit 1
fi
(cd "$S" && find . -type f ! -name SHA256SUMS ! -name SHA256SUMS.sig -printf '%P\n' |
  LC_ALL=C sort | while IFS= read -r f; do sha256sum -- "$f"; done) > "$WORK/SHA256SUMS"
mv "$WORK/SHA256SUMS" "$S/SHA256SUMS"
"$BIN" sign-bundle "$S" --key "$KEY" >/dev/null

mkdir -p "$OUT"
TAR=$OUT/$NAME.tar.gz
tar -C "$WORK" --owner=0 --group=0 --numeric-owner --sort=name \
  -czf "$TAR.tmp" "$NAME"
mv "$TAR.tmp" "$TAR"
"$BIN" verify-bundle "$TAR" --pubkey "$KEY.pub"
echo "dist: $TAR ($(du -h "$TAR" | cut -f1), $(wc -l < "$S/SHA256SUMS") files)"
echo "dist: public key for verification: $KEY.pub (send it by a separate channel)"
