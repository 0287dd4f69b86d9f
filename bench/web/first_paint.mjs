// bench/web/first_paint.mjs: the playground's first paint on loopback in headless Debian
// chromium (playwright-core from tests/web), issue 17's target < 300 ms. Each cold run is a
// fresh browser context (empty cache: every file from the server, gzip'd); each warm run
// reloads in the same context (the files revalidated: 304s). Reports the medians of the
// browser's own first-paint and first-contentful-paint (PerformancePaintTiming, from
// navigation start) and of DOMContentLoaded. For scale, the same is measured on a baseline:
// a one-line HTML page from a trivial node http server on loopback, in the same browser, so
// a loaded machine's browser cost can be told apart from the playground's.
// Usage: node bench/web/first_paint.mjs [RUNS]   (needs build/bin/lmserve; RUNS default 15;
// WEB_ROOT=DIR serves another copy of the playground; WEB_ROOT_B=DIR adds a second server with
// that copy, measured cold in the same loop, interleaved, as row "cold-B", for A/B runs)
import { spawn } from 'node:child_process';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(path.join(ROOT, 'tests', 'web', 'package.json'));
const { chromium } = require('playwright-core');
const BIN = process.env.LMSERVE_BIN || path.join(ROOT, 'build', 'bin', 'lmserve');
const RUNS = Number(process.argv[2] || 15);
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const sleep = (ms) => new Promise(r => setTimeout(r, ms));

const log = path.join(os.tmpdir(), `lmserve-first-paint-${process.pid}.log`);
// The shipped Transformer, so the page has a model to list (its fetch is not waited for).
const tiny = path.join(ROOT, 'models', 'default', 'kjv-tiny');
const servers = [];
async function serve(webRoot, log) {
  const fd = fs.openSync(log, 'w');
  const srv = spawn(BIN, ['--host', '127.0.0.1', '--port', '0', '--web-root', webRoot,
    '--model', `kjv-tiny=transformer:${tiny}/model.v2.bin,tokenizer=${tiny}/tokenizer.bin`], { stdio: ['ignore', fd, fd] });
  servers.push(srv);
  for (let i = 0; i < 200; i++) {
    const m = /listening on (http:\/\/\S+)/.exec(fs.readFileSync(log, 'utf8'));
    if (m) return m[1];
    await sleep(25);
  }
  console.error('lmserve did not start:', fs.readFileSync(log, 'utf8'));
  for (const s of servers) s.kill();
  process.exit(1);
}
const url = await serve(process.env.WEB_ROOT || path.join(ROOT, 'web'), log);
const urlB = process.env.WEB_ROOT_B ? await serve(process.env.WEB_ROOT_B, log + '.b') : null;

const paint = (page) => page.evaluate(() => {
  const p = Object.fromEntries(performance.getEntriesByType('paint').map(e => [e.name, e.startTime]));
  const nav = performance.getEntriesByType('navigation')[0];
  return { fp: p['first-paint'], fcp: p['first-contentful-paint'], dcl: nav?.domContentLoadedEventEnd };
});
const waitPaint = async (page) => {
  for (let i = 0; i < 100; i++) {
    const r = await paint(page);
    if (r.fcp !== undefined) return r;
    await sleep(20);
  }
  return paint(page);
};

// The baseline page: a title and a line of text, nothing else.
const base = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
  res.end('<!doctype html><title>baseline</title><p>baseline page</p>');
});
await new Promise(r => base.listen(0, '127.0.0.1', r));
const baseUrl = `http://127.0.0.1:${base.address().port}/`;

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: ARGS });
const cold = [], warm = [], baseline = [], coldB = [];
try {
  for (let i = 0; i < RUNS; i++) {
    if (urlB) {
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      await page.goto(urlB + '/', { waitUntil: 'load' });
      coldB.push(await waitPaint(page));
      await ctx.close();
    }
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(url + '/', { waitUntil: 'load' });
    cold.push(await waitPaint(page));
    await page.reload({ waitUntil: 'load' });
    warm.push(await waitPaint(page));
    await ctx.close();
    const ctx2 = await browser.newContext();
    const page2 = await ctx2.newPage();
    await page2.goto(baseUrl, { waitUntil: 'load' });
    baseline.push(await waitPaint(page2));
    await ctx2.close();
  }
} finally {
  await browser.close();
  for (const s of servers) s.kill('SIGTERM');
  base.close();
}
const row = (name, xs) => console.log(`${name.padEnd(5)} first-paint ${median(xs.map(x => x.fp)).toFixed(0)} ms, ` +
  `first-contentful-paint ${median(xs.map(x => x.fcp)).toFixed(0)} ms, DOMContentLoaded ${median(xs.map(x => x.dcl)).toFixed(0)} ms ` +
  `(medians of ${xs.length}; FCP max ${Math.max(...xs.map(x => x.fcp)).toFixed(0)} ms)`);
row('cold', cold);
row('warm', warm);
row('base', baseline);
if (urlB) row('cold-B', coldB);
const ok = median(cold.map(x => x.fcp)) < 300;
console.log(`first paint < 300 ms: ${ok ? 'yes' : 'NO'}`);
process.exit(ok ? 0 : 1);
