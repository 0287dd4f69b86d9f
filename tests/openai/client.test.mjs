// client.test.mjs: the official `openai` npm client, unchanged, against a real lmserve:
// chat.completions.create plain and streamed (with usage), completions.create, and the
// client's error class on a 400. The model is a random llama2.c checkpoint from
// lmserve-ckpt-gen given the chatml template with the option chat_template=chatml. With
// ../shared/vocab present, also embeddings.create (the client's default base64 and float)
// on a random BERT encoder from lmserve-gguf.
// Run: LMSERVE_BIN=build/bin/lmserve LMSERVE_TOOLS=build/bin node --test tests/openai/
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import OpenAI from "openai";

const BIN = resolve(process.env.LMSERVE_BIN || "build/bin/lmserve");
const TOOLS = resolve(process.env.LMSERVE_TOOLS || "build/bin");
const START_TIMEOUT_MS = 10000;
const POLL_MS = 50;

let server;
let dir;
let client;
let baseUrl;
const BGE_VOCAB = resolve(process.env.LMSERVE_SHARED_VOCAB || "../shared/vocab", "ggml-vocab-bert-bge.gguf");
const base_of = (port) => `http://127.0.0.1:${port}`;

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

async function waitReady(base) {
  const t0 = Date.now();
  while (Date.now() - t0 < START_TIMEOUT_MS) {
    try {
      if ((await fetch(`${base}/ready`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new Error(`lmserve did not become ready within ${START_TIMEOUT_MS} ms`);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "lmserve-openai-"));
  execFileSync(join(TOOLS, "lmserve-ckpt-gen"), [
    "-o", join(dir, "m.bin"), "--tokenizer", join(dir, "m.tok"), "--dim", "64", "--hidden", "128",
    "--layers", "2", "--heads", "4", "--kv-heads", "2", "--vocab", "512", "--seq", "256", "--seed", "9",
  ]);
  const extra = [];
  if (existsSync(BGE_VOCAB)) {
    execFileSync(join(TOOLS, "lmserve-gguf"), [
      "random", "-o", join(dir, "bert.gguf"), "--arch", "bert", "--vocab-from", BGE_VOCAB,
      "--dim", "64", "--hidden", "128", "--layers", "2", "--heads", "4", "--ctx", "128",
    ]);
    extra.push("--model", `bert=transformer:${join(dir, "bert.gguf")}`);
  }
  const port = await freePort();
  server = spawn(BIN, [
    "--host", "127.0.0.1", "--port", String(port),
    "--model", `m=transformer:${join(dir, "m.bin")},tokenizer=m.tok,chat_template=chatml`,
    "--model", `plain=transformer:${join(dir, "m.bin")},tokenizer=m.tok`,
    ...extra,
  ], { stdio: "ignore" });
  baseUrl = base_of(port);
  const base = baseUrl;
  await waitReady(base);
  // the client as anyone would use it; only where the server is differs
  client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "unused", maxRetries: 0 });
});

after(() => {
  if (server) server.kill("SIGTERM");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const MESSAGES = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "Say something." },
];

test("chat.completions.create, plain", async () => {
  const r = await client.chat.completions.create({
    model: "m", messages: MESSAGES, max_tokens: 16, temperature: 0, seed: 1,
  });
  assert.equal(r.object, "chat.completion");
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, "assistant");
  assert.equal(typeof r.choices[0].message.content, "string");
  assert.ok(["stop", "length"].includes(r.choices[0].finish_reason));
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  assert.ok(r.usage.completion_tokens <= 16);
});

test("chat.completions.create, streamed, equals the plain answer", async () => {
  const args = { model: "m", messages: MESSAGES, max_completion_tokens: 16, temperature: 0 };
  const plain = await client.chat.completions.create(args);
  const stream = await client.chat.completions.create({
    ...args, stream: true, stream_options: { include_usage: true },
  });
  let text = "";
  let role = null;
  let finish = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.object, "chat.completion.chunk");
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (c.delta.role) role = c.delta.role;
      if (c.delta.content) text += c.delta.content;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.ok(chunks >= 3);
  assert.equal(role, "assistant");
  assert.equal(text, plain.choices[0].message.content);
  assert.equal(finish, plain.choices[0].finish_reason);
  assert.deepEqual(usage, plain.usage);
});

test("chat logprobs through the client", async () => {
  const r = await client.chat.completions.create({
    model: "m", messages: MESSAGES, max_tokens: 4, temperature: 0, logprobs: true, top_logprobs: 2,
  });
  const lp = r.choices[0].logprobs.content;
  assert.equal(lp.length, r.usage.completion_tokens);
  for (const t of lp) {
    assert.ok(t.logprob <= 0);
    assert.equal(t.top_logprobs.length, 2);
  }
});

test("completions.create through the same client", async () => {
  const r = await client.completions.create({ model: "m", prompt: "Once", max_tokens: 5, temperature: 0 });
  assert.equal(r.object, "text_completion");
  assert.equal(typeof r.choices[0].text, "string");
});

test("a 400 becomes the client's BadRequestError, naming the field", async () => {
  await assert.rejects(
    client.chat.completions.create({ model: "plain", messages: MESSAGES }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === "model",
  );
  await assert.rejects(
    client.chat.completions.create({ model: "m", messages: [{ role: "tool", content: "x" }] }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === "messages[0].role",
  );
});

test("embeddings.create on a BERT encoder: base64 (the client's default) and float agree", async (t) => {
  if (!existsSync(BGE_VOCAB)) return t.skip(`${BGE_VOCAB} absent`);
  const input = ["A king rules the land.", "The queen rules the kingdom."];
  const b64 = await client.embeddings.create({ model: "bert", input });
  const flt = await client.embeddings.create({ model: "bert", input, encoding_format: "float" });
  assert.equal(b64.object, "list");
  assert.equal(b64.data.length, 2);
  for (let i = 0; i < 2; i++) {
    const a = b64.data[i].embedding, b = flt.data[i].embedding;
    assert.equal(a.length, 64);
    assert.equal(b.length, 64);
    for (let k = 0; k < 64; k++) assert.ok(Math.abs(a[k] - b[k]) < 1e-6, `dim ${k}: ${a[k]} vs ${b[k]}`);
    const norm = Math.sqrt(b.reduce((s, x) => s + x * x, 0));
    assert.ok(Math.abs(norm - 1) < 1e-5);
  }
  assert.ok(b64.usage.prompt_tokens > 4);
  const cut = await client.embeddings.create({ model: "bert", input: input[0], dimensions: 16 });
  assert.equal(cut.data[0].embedding.length, 16);
  await assert.rejects(client.completions.create({ model: "bert", prompt: "hi" }),
    (e) => e instanceof OpenAI.BadRequestError && /encoder/.test(e.message));
});
