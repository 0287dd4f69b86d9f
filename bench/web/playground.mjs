// bench/web/playground.mjs: what a person waits for in the playground, measured in headless
// Debian chromium (playwright-core from tests/web): page load until the model list is shown,
// static file throughput is left to wrk (see bench/RESULTS.md), and for generation the time to
// the first streamed token in the page and the page's tokens/s next to a direct API call.
// Usage: node bench/web/playground.mjs [RUNS]   (needs build/bin/lmserve and ../shared/models)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(path.join(ROOT, 'tests', 'web', 'package.json'));
const { chromium } = require('playwright-core');
const BIN = process.env.LMSERVE_BIN || path.join(ROOT, 'build', 'bin', 'lmserve');
const SHARED = process.env.LMSERVE_SHARED_MODELS || path.resolve(ROOT, '..', 'shared', 'models');
const RUNS = Number(process.argv[2] || 15);
const GEN_TOKENS = 200; // stories260K: seq_len 512, so prompt + 200 fits
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const sleep = (ms) => new Promise(r => setTimeout(r, ms));

const log = path.join(os.tmpdir(), `lmserve-bench-web-${process.pid}.log`);
const fd = fs.openSync(log, 'w');
const srv = spawn(BIN, ['--host', '127.0.0.1', '--port', '0', '--web-root', path.join(ROOT, 'web'),
  '--model', `stories=transformer:${SHARED}/stories260K.bin,tokenizer=${SHARED}/tok512.bin`], { stdio: ['ignore', fd, fd] });
let url = null;
for (let i = 0; i < 200 && !url; i++) {
  await sleep(50);
  const m = /listening on (http:\/\/\S+)/.exec(fs.readFileSync(log, 'utf8'));
  if (m) url = m[1];
}
for (let i = 0; i < 200; i++) { try { if ((await fetch(url + '/ready')).ok) break; } catch { } await sleep(50); }

const ctx = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), 'lmserve-bench-chromium-')),
  { executablePath: '/usr/bin/chromium', headless: true, args: ARGS });
const page = ctx.pages()[0] || await ctx.newPage();
try {
  const bytes = fs.readdirSync(path.join(ROOT, 'web')).reduce((n, f) => n + fs.statSync(path.join(ROOT, 'web', f)).size, 0);
  const loads = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = Date.now();
    await page.goto(url + '/', { waitUntil: 'commit' });
    await page.waitForSelector('#models-table tr[data-id="stories"]');
    loads.push(Date.now() - t0);
  }
  await page.click('#tab-generate');
  await page.fill('#gen-max', String(GEN_TOKENS));
  await page.fill('#gen-temp', '0');
  const ttft = [], pageRate = [];
  for (let i = 0; i < RUNS; i++) {
    const t = await page.evaluate(() => new Promise(resolve => {
      const out = document.getElementById('gen-output');
      const t0 = performance.now();
      let first = null;
      const mo = new MutationObserver(() => {
        if (first === null && out.querySelector('.gen')) first = performance.now() - t0;
        if (/tokens in/.test(document.getElementById('gen-status').textContent)) {
          mo.disconnect();
          resolve({ first, total: performance.now() - t0, n: out.querySelectorAll('.gen').length });
        }
      });
      mo.observe(out, { childList: true });
      mo.observe(document.getElementById('gen-status'), { childList: true, characterData: true, subtree: true });
      document.getElementById('gen-submit').click();
    }));
    ttft.push(t.first);
    pageRate.push(t.n / (t.total / 1000));
  }
  const apiRate = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const r = await (await fetch(url + '/v1/completions', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'stories', prompt: 'Once upon a time', max_tokens: GEN_TOKENS, temperature: 0 }) })).json();
    apiRate.push(r.usage.completion_tokens / ((performance.now() - t0) / 1000));
  }
  console.log(`web/ files: ${bytes} bytes`);
  console.log(`page load to model list shown: median ${median(loads)} ms (${RUNS} runs)`);
  console.log(`generate ${GEN_TOKENS} tokens, stories260K, greedy: first token in page median ${median(ttft).toFixed(1)} ms; ` +
    `page ${median(pageRate).toFixed(0)} tok/s (streamed, drawn) vs API ${median(apiRate).toFixed(0)} tok/s (one JSON response)`);
} finally {
  await ctx.close();
  srv.kill('SIGTERM');
}
