#!/usr/bin/env bash
# The official OpenAI client (npm package `openai`, installed by
# scripts/deps.sh into .deps/openai) against `airlock serve` on a synthetic
# model with the Qwen2 tokenizer and ChatML: models, completions and chat,
# whole and streamed (the streamed text must equal the whole one), and the
# client's view of an authentication error.
set -u
A=${AIRLOCK:?AIRLOCK must name the airlock binary}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
S=${AIRLOCK_SHARED:-$(cd "$ROOT/.." && pwd)/shared}
MOD="$ROOT/.deps/openai/node_modules/openai"
command -v node >/dev/null || { echo "node is not installed"; exit 77; }
[ -f "$MOD/package.json" ] || { echo "openai npm package absent (run scripts/deps.sh)"; exit 77; }
[ -f "$S/vocab/ggml-vocab-qwen2.gguf" ] || { echo "shared vocabularies absent ($S)"; exit 77; }
T=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$T/err" ] && grep -v server.request "$T/err" | tail -n 5; exit 1; }
export AIRLOCK_DATA="$T/data" AIRLOCK_LOG_LEVEL=warn AIRLOCK_SERVER_THREADS=1 AIRLOCK_MODEL_N_CTX=512

"$A" model synth --arch qwen2 --layers 2 --dim 32 --heads 4 --kv-heads 2 --ffn 64 --seed 2 \
  --vocab-from "$S/vocab/ggml-vocab-qwen2.gguf" -o "$T/qw.gguf" >/dev/null || fail synth
"$A" user add dev >/dev/null || fail "user add"
TOK=$("$A" token create --user dev 2>/dev/null) || fail token
"$A" serve --allow-unsandboxed --model "$T/qw.gguf" --listen 127.0.0.1:0 >"$T/out" 2>"$T/err" &
PID=$!
for _ in $(seq 400); do grep -q serving "$T/out" 2>/dev/null && break; sleep 0.05; done
PORT=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/out")
[ -n "$PORT" ] || fail "no port in: $(cat "$T/out")"

cat > "$T/client.js" <<'JS'
const OpenAI = require(process.env.OPENAI_MODULE);
const assert = require("assert");
const base = process.env.BASE_URL;
const client = new OpenAI({ apiKey: process.env.TOKEN, baseURL: base, maxRetries: 0, timeout: 60000 });
(async () => {
  const models = await client.models.list();
  const ids = models.data.map((m) => m.id);
  assert.deepStrictEqual(ids, ["qw.gguf"]);
  const one = await client.models.retrieve("qw.gguf");
  assert.strictEqual(one.id, "qw.gguf");

  const req = { model: "qw.gguf", prompt: "def add(a, b):\n", max_tokens: 12, temperature: 0 };
  const whole = await client.completions.create(req);
  assert.strictEqual(whole.object, "text_completion");
  assert.strictEqual(whole.usage.completion_tokens, 12);
  let text = "", finish = null;
  for await (const chunk of await client.completions.create({ ...req, stream: true })) {
    text += chunk.choices[0].text;
    finish = chunk.choices[0].finish_reason || finish;
  }
  assert.strictEqual(text, whole.choices[0].text);
  assert.strictEqual(finish, "length");

  const chat = { model: "qw.gguf", temperature: 0, max_tokens: 10,
                 messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hello" }] };
  const c = await client.chat.completions.create(chat);
  assert.strictEqual(c.choices[0].message.role, "assistant");
  let ctext = "", role = null;
  const stream = await client.chat.completions.create({ ...chat, stream: true, stream_options: { include_usage: true } });
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    if (!chunk.choices.length) continue;
    role = chunk.choices[0].delta.role || role;
    ctext += chunk.choices[0].delta.content || "";
  }
  assert.strictEqual(role, "assistant");
  assert.strictEqual(ctext, c.choices[0].message.content);
  assert.strictEqual(usage.completion_tokens, c.usage.completion_tokens);

  const bad = new OpenAI({ apiKey: "alk_wrong", baseURL: base, maxRetries: 0 });
  try {
    await bad.models.list();
    assert.fail("a bad token was accepted");
  } catch (e) {
    assert.strictEqual(e.status, 401);
    assert.strictEqual(e.code, "invalid_api_key");
  }
  try {
    await client.completions.create({ ...req, top_p: 5 });
    assert.fail("top_p 5 was accepted");
  } catch (e) {
    assert.strictEqual(e.status, 400);
    assert.strictEqual(e.param, "top_p");
  }
  console.log("client ok");
})().catch((e) => { console.error(e); process.exit(1); });
JS
OPENAI_MODULE="$MOD" BASE_URL="http://127.0.0.1:$PORT/v1" TOKEN="$TOK" \
  timeout 120 node "$T/client.js" || fail "openai client"
echo ok
