#!/usr/bin/env bash
# FIM and chat prompts through `airlock generate` on small synthetic models
# carrying real vocabularies: DeepSeek-Coder's FIM tokens and Phi-3's chat
# template. The weights are random, so only the paths and the ids of the
# prompt are checked, not the text.
set -u
A=${AIRLOCK:?AIRLOCK must name the airlock binary}
S=${AIRLOCK_SHARED:-$(cd "$(dirname "$0")/../../.." && pwd)/shared}
[ -f "$S/vocab/ggml-vocab-deepseek-coder.gguf" ] || {
  echo "skip: $S/vocab not found (set AIRLOCK_SHARED to the shared test data)"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$A" model synth --arch llama --layers 1 --dim 64 --heads 4 --kv-heads 4 --ffn 128 \
  --vocab-from "$S/vocab/ggml-vocab-deepseek-coder.gguf" --seed 1 -o "$T/ds.gguf" >/dev/null \
  || fail "synth deepseek-coder"
"$A" generate -m "$T/ds.gguf" -p 'def add(a, b):\n    return ' --suffix '\n' \
  -n 4 --temp 0 --ids -t 1 >"$T/out" 2>"$T/err" || fail "generate --suffix: $(cat "$T/err")"
grep -q "^ids:" "$T/err" || fail "no ids: $(cat "$T/err")"
# control tokens are not shown as text
grep -q "fim" "$T/out" && fail "control token text in the output: $(cat "$T/out")"
# the FIM prompt itself: BOS, <｜fim▁begin｜> prefix <｜fim▁hole｜> suffix <｜fim▁end｜>
"$A" tokenize -m "$T/ds.gguf" --ids "$(printf '<\xef\xbd\x9cfim\xe2\x96\x81begin\xef\xbd\x9c>a<\xef\xbd\x9cfim\xe2\x96\x81hole\xef\xbd\x9c>b<\xef\xbd\x9cfim\xe2\x96\x81end\xef\xbd\x9c>')" >"$T/ids" \
  || fail "tokenize FIM text"
grep -q "^\[32013, 32016, " "$T/ids" || fail "FIM tokens: $(cat "$T/ids")"

"$A" model synth --arch llama --layers 1 --dim 64 --heads 4 --kv-heads 4 --ffn 128 \
  --vocab-from "$S/vocab/ggml-vocab-phi-3.gguf" --seed 2 -o "$T/phi.gguf" >/dev/null \
  || fail "synth phi-3"
"$A" generate -m "$T/phi.gguf" -p "Sort a list" --chat -n 3 --temp 0 -t 1 >"$T/out" 2>"$T/err" \
  || fail "generate --chat: $(cat "$T/err")"
# no chat template and no chat tokens: a clear error
"$A" generate -m "$T/ds.gguf" -p "hi" --chat -n 3 2>"$T/err"; rc=$?
[ $rc -eq 3 ] || fail "--chat without a template: exit $rc"
grep -q "no chat template" "$T/err" || fail "chat message: $(cat "$T/err")"
echo ok
