#!/usr/bin/env bash
# `airlock model synth|info|import` as a user meets them.
set -u
A=${AIRLOCK:?AIRLOCK must name the airlock binary}
V=${AIRLOCK_SHARED:-}/models/stories260K.gguf
[ -f "$V" ] || { echo "skip: $V not found (set AIRLOCK_SHARED)"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$A" help model | grep -q "airlock model synth" || fail "help model"
"$A" model 2>/dev/null; [ $? -eq 2 ] || fail "model without subcommand: exit code"

# synth: same seed, same bytes; another seed, other bytes.
S="--arch qwen2 --layers 2 --dim 64 --heads 4 --kv-heads 2 --ffn 128 --vocab-from $V"
"$A" model synth $S --type q8_0 --seed 1 -o "$T/a.gguf" || fail "synth a"
"$A" model synth $S --type q8_0 --seed 1 -o "$T/b.gguf" || fail "synth b"
"$A" model synth $S --type q8_0 --seed 2 -o "$T/c.gguf" || fail "synth c"
cmp -s "$T/a.gguf" "$T/b.gguf" || fail "synth is not deterministic"
cmp -s "$T/a.gguf" "$T/c.gguf" && fail "seed has no effect"
"$A" model synth ${S/--dim 64/--dim 48} --type q4_0 -o "$T/k.gguf" 2>"$T/err"; [ $? -eq 2 ] || fail "q4_0 at dim 48: exit code"
grep -q "block size 32" "$T/err" || fail "q4_0 at dim 48: message $(cat "$T/err")"
"$A" model synth ${S/--ffn 128/--ffn 256} --type q4_K --seed 1 -o "$T/k.gguf" || fail "q4_K with fallback"
"$A" model info "$T/k.gguf" | grep -q "^tensor types .*q5_0 x.*q4_K x" || fail "q4_K fallback mix: $("$A" model info "$T/k.gguf")"
"$A" model synth $S --type q9_9 -o "$T/x.gguf" 2>/dev/null; [ $? -eq 2 ] || fail "bad type exit code"

L="--arch llama --layers 1 --dim 64 --heads 4 --kv-heads 2 --ffn 128 --vocab-from $V"
"$A" model synth $L --rope-base 500000 --rope-scale 2 --rope-freqs --biases -o "$T/l.gguf" || fail "synth llama options"
"$A" model info "$T/l.gguf" | grep -q "^runnable *yes: 1 layers, dim 64" || fail "llama options runnable"
"$A" model synth $S --rope-freqs -o "$T/x.gguf" 2>/dev/null; [ $? -eq 2 ] || fail "qwen2 --rope-freqs exit code"
"$A" model synth $L --rope-scale nope -o "$T/x.gguf" 2>/dev/null; [ $? -eq 2 ] || fail "bad --rope-scale exit code"

# info
"$A" model info "$T/a.gguf" --sha256 > "$T/info" || fail "info"
grep -q "^architecture *qwen2$" "$T/info" || fail "info architecture: $(cat "$T/info")"
grep -q "^tensor types .*q8_0 x" "$T/info" || fail "info types"
grep -q "^context length *2048$" "$T/info" || fail "info context"
grep -q "^tokenizer *llama$" "$T/info" || fail "info tokenizer"
grep -q "^runnable *yes: 2 layers, dim 64" "$T/info" || fail "info runnable"
grep -q "^sha256 *$(sha256sum "$T/a.gguf" | cut -d' ' -f1)$" "$T/info" || fail "info sha256"
"$A" model info "$V" | grep -q "^parameters *2" || fail "info stories parameters"
head -c 1000 "$T/a.gguf" > "$T/trunc.gguf"
"$A" model info "$T/trunc.gguf" 2>"$T/err"; [ $? -eq 3 ] || fail "truncated file: exit code"
[ "$(wc -l < "$T/err")" -eq 1 ] || fail "truncated file: one line wanted: $(cat "$T/err")"
grep -q "^airlock: model info: .*trunc.gguf: gguf: " "$T/err" || fail "truncated message: $(cat "$T/err")"

# import: recorded, re-import unchanged, changed file detected.
D="$T/data"
"$A" --data "$D" model import "$T/a.gguf" --name m.gguf | grep -q "imported" || fail "import"
[ -f "$D/models/m.gguf" ] || fail "import copy"
cmp -s "$T/a.gguf" "$D/models/m.gguf" || fail "import copy differs"
grep -q "\"sha256\": \"$(sha256sum "$T/a.gguf" | cut -d' ' -f1)\"" "$D/models/manifest.json" || fail "manifest sha"
grep -q '"architecture": "qwen2"' "$D/models/manifest.json" || fail "manifest arch"
"$A" --data "$D" model import "$T/a.gguf" --name m.gguf | grep -q "unchanged" || fail "re-import unchanged"
"$A" --data "$D" model import "$T/c.gguf" --name m.gguf | grep -q "CHANGED" || fail "re-import changed"
grep -q '"previous_sha256"' "$D/models/manifest.json" || fail "manifest previous sha"
"$A" --data "$D" model import "$T/trunc.gguf" 2>/dev/null; [ $? -eq 3 ] || fail "import of a bad file: exit code"
[ -f "$D/models/trunc.gguf" ] && fail "bad file was imported"
echo "ok"
