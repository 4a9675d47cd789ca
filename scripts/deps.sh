#!/usr/bin/env bash
# Installs what airlock needs to build and test on a Debian 12 machine:
# the Debian -dev packages (apt-get when root, otherwise the exact sudo line
# is printed and the script stops) and the tree-sitter grammars from the npm
# registry, pinned at 0.23.x (ABI 14, the newest that Debian's libtree-sitter
# 0.20.7 loads). Idempotent: when everything is present it only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build, libraries, tests, fuzzing, sandbox checks.
PACKAGES=(
  build-essential pkg-config git ca-certificates
  libgnutls28-dev nettle-dev libsqlite3-dev libyaml-dev libjansson-dev
  libmicrohttpd-dev libpcre2-dev libtree-sitter-dev libseccomp-dev
  libdivsufsort-dev libcmocka-dev
  zlib1g-dev
  libdeflate-dev
  clang libclang-rt-14-dev
  curl strace
  jq
  systemd
)
# Hyperscan exists only on x86-64; PCRE2 is the fallback elsewhere.
if [ "$(dpkg --print-architecture 2>/dev/null)" = amd64 ]; then
  PACKAGES+=(libhyperscan-dev)
fi
# npm fetches the grammars; any working node/npm on PATH will do.
if ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(nodejs npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  case "$st" in *"install ok installed"*) ;; *) missing+=("$p") ;; esac
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing Debian packages. Run:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Grammars: name@version, pinned. Installed without their install scripts:
# only the generated C sources (src/parser.c, src/scanner.c) are used.
GRAMMARS=(
  tree-sitter-c@0.23.6
  tree-sitter-cpp@0.23.4
  tree-sitter-python@0.23.6
  tree-sitter-javascript@0.23.1
  tree-sitter-typescript@0.23.2
  tree-sitter-go@0.23.4
  tree-sitter-rust@0.23.3
  tree-sitter-java@0.23.5
)
GDIR=.deps/grammars
want=()
for g in "${GRAMMARS[@]}"; do
  name=${g%@*} ver=${g##*@}
  pj="$GDIR/node_modules/$name/package.json"
  have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$pj" 2>/dev/null | head -n 1 || true)
  [ "$have" = "$ver" ] || want+=("$g")
done
if [ ${#want[@]} -gt 0 ]; then
  echo "deps: fetching grammars ${want[*]}"
  mkdir -p "$GDIR"
  [ -f "$GDIR/package.json" ] || echo '{"name":"airlock-grammars","private":true}' > "$GDIR/package.json"
  # Dependencies of the grammar packages (node bindings) are not needed.
  npm install --prefix "$GDIR" --no-save --no-package-lock --ignore-scripts \
    --omit=peer --no-audit --no-fund --loglevel=error "${GRAMMARS[@]}" >/dev/null
fi
# The official OpenAI client (npm), used only by tests/e2e/server_openai.sh;
# that test skips itself when this is absent, so a failure here is not fatal.
OPENAI_NPM=openai@5.7.0
ODIR=.deps/openai
have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$ODIR/node_modules/openai/package.json" 2>/dev/null | head -n 1 || true)
if [ "$have" != "${OPENAI_NPM#*@}" ] && command -v npm >/dev/null 2>&1; then
  echo "deps: fetching $OPENAI_NPM (for the server's client test)"
  mkdir -p "$ODIR"
  [ -f "$ODIR/package.json" ] || echo '{"name":"airlock-openai-client","private":true}' > "$ODIR/package.json"
  npm install --prefix "$ODIR" --no-save --no-package-lock --ignore-scripts \
    --no-audit --no-fund --loglevel=error "$OPENAI_NPM" >/dev/null ||
    echo "deps: could not fetch $OPENAI_NPM; tests/e2e/server_openai.sh will be skipped"
fi
exit 0
