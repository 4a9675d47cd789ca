#!/usr/bin/env bash
# `airlock bench` on a tiny synthetic model: the harness runs and reports
# every figure (present, numeric, positive). Nothing here is timed: the
# speeds themselves are not asserted.
set -u
A=${AIRLOCK:?AIRLOCK must name the airlock binary}
V=${AIRLOCK_SHARED:-}/models/stories260K.gguf
[ -f "$V" ] || { echo "skip: $V not found (set AIRLOCK_SHARED)"; exit 77; }
command -v jq >/dev/null || { echo "skip: jq not found (scripts/deps.sh installs it)"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$A" help bench | grep -q "roofline" || fail "help bench does not explain the roofline"
"$A" bench 2>"$T/err"; [ $? -eq 2 ] || fail "bench without -m: exit code"
grep -q "missing -m" "$T/err" || fail "bench without -m: message $(cat "$T/err")"
"$A" bench -m "$T/none.gguf" --bandwidth 10 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && [ $rc -ne 2 ] || fail "missing model file: exit code $rc"
"$A" bench -m x -t zero 2>/dev/null; [ $? -eq 2 ] || fail "bad -t: exit code"
"$A" bench -m x --kv q9 2>/dev/null; [ $? -eq 2 ] || fail "bad --kv: exit code"
"$A" bench -m x --bandwidth -3 2>/dev/null; [ $? -eq 2 ] || fail "bad --bandwidth: exit code"

"$A" model synth --arch qwen2 --layers 2 --dim 64 --heads 4 --kv-heads 2 --ffn 128 \
  --vocab-from "$V" --type q8_0 --seed 1 -o "$T/tiny.gguf" || fail "synth"

"$A" bench -m "$T/tiny.gguf" -p 16 -n 8 --ctx-depth 32 --reps 2 --bw-mib 64 --json \
  >"$T/out.json" 2>"$T/err" || fail "bench --json: $(cat "$T/err")"
jq -e . "$T/out.json" >/dev/null || fail "bench --json is not JSON: $(head -c 400 "$T/out.json")"
for k in pp_tps tg_tps tg_tps_ctx4096 pp_tps_fill peak_rss_bytes roofline_fraction \
  roofline_tps roofline_tps_ctx4096 roofline_fraction_ctx4096 bandwidth_bytes_per_s \
  weight_bytes_per_token kv_bytes_per_token model_bytes kv_cache_bytes threads reps; do
  jq -e --arg k "$k" '.[$k] | type == "number" and . > 0' "$T/out.json" >/dev/null ||
    fail "field $k missing or not positive: $(jq -c --arg k "$k" '.[$k]' "$T/out.json")"
done
# The share of the weights on 2 MB pages (smaps of the file mapping).
jq -e '.weights_2mb_page_fraction | type == "number" and . >= 0 and . <= 1' "$T/out.json" \
  >/dev/null || fail "weights_2mb_page_fraction: $(jq -c .weights_2mb_page_fraction "$T/out.json")"
jq -e '.ctx_depth == 32 and .n_prompt == 16 and .n_gen == 8 and .reps == 2 and .threads == 2' \
  "$T/out.json" >/dev/null || fail "echoed settings: $(cat "$T/out.json")"
jq -e '(.tg_tps_samples | length) == 2 and (.tg_tps_ctx4096_samples | length) == 2 and
  (.pp_tps_samples | length) == 2' "$T/out.json" >/dev/null || fail "samples per rep"
jq -e '.type_mix.q8_0.tensors > 0 and .type_mix.f32.tensors > 0 and .tied_output == true and
  .model != null and .statistic == "median"' "$T/out.json" >/dev/null ||
  fail "model facts: $(cat "$T/out.json")"
# A tied model reads its whole embedding table per token: more than the q8_0 matrices' half.
jq -e '.weight_bytes_per_token <= .model_bytes and .weight_bytes_per_token > .model_bytes / 2' \
  "$T/out.json" >/dev/null || fail "weight bytes per token"
# The bandwidth is probed before and after the runs; the higher median counts.
jq -e '.bandwidth_before_bytes_per_s > 0 and .bandwidth_after_bytes_per_s > 0 and
  .bandwidth_bytes_per_s == ([.bandwidth_before_bytes_per_s, .bandwidth_after_bytes_per_s] | max)' \
  "$T/out.json" >/dev/null || fail "two bandwidth probes: $(jq -c '[.bandwidth_before_bytes_per_s, .bandwidth_after_bytes_per_s, .bandwidth_bytes_per_s]' "$T/out.json")"
# The roofline is the bandwidth over the bytes read per token.
jq -e '(.roofline_tps * (.weight_bytes_per_token + .kv_bytes_per_token) / .bandwidth_bytes_per_s - 1 | fabs) < 1e-3' \
  "$T/out.json" >/dev/null || fail "roofline arithmetic"

# Each generation run sits between two reads of the bandwidth; the paired
# fraction is the median over the runs of each run's bytes/s against the
# mean of the reads beside it (two runs: the mean of the two).
jq -e '(.bandwidth_beside_tg_samples | length) == 3 and
  (.bandwidth_beside_tg_ctx4096_samples | length) == 3 and
  ([.bandwidth_beside_tg_samples[], .bandwidth_beside_tg_ctx4096_samples[]] | all(. > 0))' \
  "$T/out.json" >/dev/null || fail "bandwidth beside the runs: $(jq -c '[.bandwidth_beside_tg_samples, .bandwidth_beside_tg_ctx4096_samples]' "$T/out.json")"
jq -e '(.weight_bytes_per_token + .kv_bytes_per_token) as $b | .bandwidth_beside_tg_samples as $w |
  .tg_tps_samples as $t | ([range(0; 2) | $t[.] * $b / (($w[.] + $w[. + 1]) / 2)] | add / 2) as $f |
  ($f / .roofline_fraction_paired - 1 | fabs) < 1e-3 and .roofline_fraction_ctx4096_paired > 0' \
  "$T/out.json" >/dev/null || fail "paired roofline fraction: $(jq -c '[.roofline_fraction_paired, .tg_tps_samples, .bandwidth_beside_tg_samples]' "$T/out.json")"

# A given bandwidth is used as is; no depth run: its figure is null.
"$A" bench -m "$T/tiny.gguf" -p 8 -n 4 --ctx-depth 0 --reps 1 --bandwidth 12.5 --json \
  >"$T/b.json" 2>"$T/err" || fail "bench --bandwidth: $(cat "$T/err")"
jq -e '.bandwidth_bytes_per_s == 12.5e9 and .bandwidth_measured == false and
  .bandwidth_before_bytes_per_s == null and .bandwidth_after_bytes_per_s == null and
  .tg_tps_ctx4096 == null and .tg_tps > 0 and .roofline_fraction_paired == null and
  (.bandwidth_beside_tg_samples | length) == 0' "$T/b.json" >/dev/null ||
  fail "given bandwidth / no depth: $(cat "$T/b.json")"

# The text report names each figure.
"$A" bench -m "$T/tiny.gguf" -p 8 -n 4 --ctx-depth 16 --reps 1 --bandwidth 10 --kernels scalar \
  >"$T/out.txt" 2>"$T/err" || fail "bench text: $(cat "$T/err")"
for w in "^pp8 " "^tg4 " "^tg4@16 " "^bandwidth " "^roofline " "^peak RSS " "scalar kernels"; do
  grep -q "$w" "$T/out.txt" || fail "text report lacks '$w': $(cat "$T/out.txt")"
done
echo "bench smoke: ok"
