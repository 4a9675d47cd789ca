#!/usr/bin/env bash
# stories260K end to end: `airlock tokenize` gives llama.cpp's prompt ids and
# greedy `airlock generate` reproduces the 64 reference tokens and text
# recorded with llama.cpp in shared/models/README.md.
set -u
A=${AIRLOCK:?AIRLOCK must name the airlock binary}
S=${AIRLOCK_SHARED:-$(cd "$(dirname "$0")/../../.." && pwd)/shared}
M=$S/models/stories260K.gguf
[ -f "$M" ] || { echo "skip: $M not found (set AIRLOCK_SHARED to the shared test data)"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

out=$("$A" tokenize -m "$M" --ids "Once upon a time") || fail "tokenize exit $?"
[ "$out" = "[1, 403, 407, 261, 378]" ] || fail "tokenize --ids: $out"
"$A" tokenize -m "$M" "Once upon a time" > "$T/pieces" || fail "tokenize pieces"
grep -qx "   403 -> ' Once'" "$T/pieces" || fail "tokenize pieces: $(cat "$T/pieces")"
out=$("$A" tokenize -m "$M" --no-bos --ids "Once") || fail "tokenize --no-bos"
[ "$out" = "[403]" ] || fail "tokenize --no-bos: $out"
"$A" tokenize -m "$M" --ids "$(printf 'bad\xff')" 2>"$T/err"; rc=$?
[ $rc -eq 3 ] || fail "invalid UTF-8: exit $rc, want 3"
grep -q "invalid UTF-8 at byte offset 3" "$T/err" || fail "invalid UTF-8 message: $(cat "$T/err")"

want_ids="432 383 286 261 376 298 315 421 395 317 426 338 401 396 267 337 410 408 419 292 411 322 265 282 295 433 426 385 328 432 358 394 261 370 432 352 266 268 388 426 338 391 266 267 337 335 312 432 398 312 286 267 414 270 333 415 426 13 438 310 439 419 357 336"
"$A" generate -m "$M" -p "Once upon a time" --temp 0 -n 64 --ids -t 1 >"$T/text" 2>"$T/ids" \
  || fail "generate exit $?: $(cat "$T/ids")"
got_ids=$(sed -n 's/^ids: //p' "$T/ids")
[ "$got_ids" = "$want_ids" ] || fail "greedy ids differ:
got  $got_ids
want $want_ids"
printf '%s\n%s\n' ", there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high." "Lily's mom said" > "$T/want"
cmp -s "$T/text" "$T/want" || fail "greedy text differs: $(cat "$T/text")"

# the f32 cache gives the same greedy ids as the default f16 one; q8_0 is
# refused for heads of 8 (a config error), an unknown type is a usage error
"$A" generate -m "$M" -p "Once upon a time" --temp 0 -n 64 --ids -t 1 --kv f32 >/dev/null 2>"$T/ids" \
  || fail "generate --kv f32 exit $?: $(cat "$T/ids")"
[ "$(sed -n 's/^ids: //p' "$T/ids")" = "$want_ids" ] || fail "--kv f32 greedy ids differ: $(cat "$T/ids")"
"$A" generate -m "$M" -p "a" -n 2 --kv q8_0 2>"$T/err"; rc=$?
[ $rc -eq 2 ] || fail "--kv q8_0 on heads of 8: exit $rc, want 2"
grep -q "multiple of 32 (this model's is 8)" "$T/err" || fail "--kv q8_0 message: $(cat "$T/err")"
"$A" generate -m "$M" -p "a" -n 2 --kv bf16 2>"$T/err"; rc=$?
[ $rc -eq 2 ] || fail "--kv bf16: exit $rc, want 2"

# a stop string ends the output before it
out=$("$A" generate -m "$M" -p "Once upon a time" --temp 0 -n 64 --stop " named" -t 1) || fail "generate --stop"
[ "$out" = ", there was a little girl" ] || fail "stop string: '$out'"
# no FIM tokens in this model: a clear error, data exit code
"$A" generate -m "$M" -p "a" --suffix "b" 2>"$T/err"; rc=$?
[ $rc -eq 3 ] || fail "FIM without tokens: exit $rc"
grep -q "no fill-in-the-middle tokens" "$T/err" || fail "FIM message: $(cat "$T/err")"
echo "ok"
