// playground.test.mjs: the playground in a real browser (Debian's /usr/bin/chromium driven by
// playwright-core; no browser download). Starts the real lmserve with small models written here
// (plus the shared Transformer when present), uses every panel, checks what a person would see,
// saves screenshots at 375 px and 1280 px, and checks CORS from a page of another origin.
// Prints `web: N passed, M failed[, K skipped]` and exits non-zero on any failure.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const BUILD = path.resolve(ROOT, process.env.BUILD || 'build');
const BIN = process.env.LMSERVE_BIN || path.join(BUILD, 'bin', 'lmserve');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.join(BUILD, 'web-shots');
const LOGS = path.join(BUILD, 'web-test');
const SHARED = process.env.LMSERVE_SHARED_MODELS || path.resolve(ROOT, '..', 'shared', 'models');
const ADMIN_KEY = 'web-test-admin-key';
const START_TIMEOUT_MS = 20000;   // server up and every model ready
const UI_TIMEOUT_MS = 15000;      // one visible result in the page
const WIDTHS = { mobile: 375, desktop: 1280 };
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// ---- tiny runner ----
let passed = 0, failed = 0, skipped = 0;
const failures = [];
class Skip extends Error {}
async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    if (e instanceof Skip) { skip(name, e.message); return; }
    failed++;
    failures.push(name);
    console.log(`FAIL ${name}: ${(e && e.stack) || e}`);
  }
}
function skip(name, why) { skipped++; console.log(`skip ${name}: ${why}`); }
function assert(cond, msg) { if (!cond) throw new Error(msg); }

// ---- fixtures written by the test ----
const ARPA = `\\data\\
ngram 1=8
ngram 2=7
ngram 3=3

\\1-grams:
-1.0\t<unk>\t0
-99\t<s>\t-0.5
-0.8\t</s>\t0
-0.7\tthe\t-0.4
-0.9\tcat\t-0.3
-1.0\tsat\t-0.3
-1.1\ton\t-0.3
-1.0\tmat\t-0.3

\\2-grams:
-0.3\t<s> the\t-0.2
-0.4\tthe cat\t-0.1
-0.5\tcat sat\t-0.1
-0.3\tsat on\t-0.1
-0.2\ton the\t-0.1
-0.6\tthe mat\t-0.1
-0.2\tmat </s>

\\3-grams:
-0.1\t<s> the cat
-0.2\tthe cat sat
-0.1\ton the mat

\\end\\
`;
// Axes: royalty, gender, youth, person, _, fruit. king - man + woman = queen exactly.
const VECTORS = {
  king: [1, 1, 0, 0, 0.1, 0], queen: [1, -1, 0, 0, 0.1, 0], man: [0, 1, 0, 0.1, 0, 0],
  woman: [0, -1, 0, 0.1, 0, 0], prince: [0.8, 1, 0.3, 0, 0, 0], princess: [0.8, -1, 0.3, 0, 0, 0],
  boy: [0, 1, 0.5, 0.1, 0, 0], girl: [0, -1, 0.5, 0.1, 0, 0], apple: [0, 0, 0, 0, 0, 1],
  pear: [0, 0, 0.1, 0, 0, 1], cat: [0, 0, 0.2, 0.3, 0, 0.1], mat: [0, 0, 0, 0.2, 0, 0.3],
};
function writeFixtures(dir) {
  fs.writeFileSync(path.join(dir, 'tiny.arpa'), ARPA);
  const rows = Object.entries(VECTORS).map(([w, v]) => `${w} ${v.join(' ')}`);
  fs.writeFileSync(path.join(dir, 'tiny.vec'), `${rows.length} ${VECTORS.king.length}\n${rows.join('\n')}\n`);
}

// ---- processes ----
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}
const sleep = (ms) => new Promise(r => setTimeout(r, ms));

function httpRaw(port, method, pathname, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: pathname, headers }, (res) => {
      const chunks = [];
      res.on('data', c => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    if (body !== undefined) req.end(typeof body === 'string' ? body : JSON.stringify(body)); else req.end();
  });
}
async function apiPost(port, route, body) {
  const r = await httpRaw(port, 'POST', route, { headers: { 'Content-Type': 'application/json' }, body });
  return { status: r.status, json: JSON.parse(r.body) };
}

const children = [];
let helpText = null;
function lmserveHelp() {
  if (helpText === null) {
    try { helpText = execFileSync(BIN, ['--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }); }
    catch (e) { helpText = String(e.stdout || '') + String(e.stderr || ''); }
  }
  return helpText;
}
// Start lmserve on --port 0 (the kernel picks a free port; the log line names it) and wait
// until every model is ready.
async function startServer(name, args) {
  const full = [...args, '--host', '127.0.0.1', '--port', '0'];
  // The web root: the flag when the binary has it, else the default `web` under the cwd.
  if (lmserveHelp().includes('--web-root')) full.push('--web-root', path.join(ROOT, 'web'));
  const logPath = path.join(LOGS, `${name}.log`);
  const log = fs.openSync(logPath, 'w');
  const child = spawn(BIN, full, { cwd: ROOT, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  children.push(child);
  let exited = null;
  child.on('exit', (code, sig) => { exited = `exit ${code ?? sig}`; });
  const t0 = Date.now();
  let port = 0;
  for (;;) {
    if (exited) throw new Error(`${name}: lmserve ${exited}; see ${logPath}`);
    if (Date.now() - t0 > START_TIMEOUT_MS) {
      throw new Error(`${name}: not ready in ${START_TIMEOUT_MS} ms; see ${logPath}` +
        (port ? `; /ready says ${(await httpRaw(port, 'GET', '/ready').catch(e => ({ body: String(e) }))).body}` : ''));
    }
    if (!port) port = Number(/listening on http:\/\/\S*:(\d+)/.exec(fs.readFileSync(logPath, 'utf8'))?.[1] || 0);
    if (port) {
      try {
        if ((await httpRaw(port, 'GET', '/ready')).status === 200) break;
        // Not ready: done anyway once no model is still loading (failed ones are checked later).
        const list = JSON.parse((await httpRaw(port, 'GET', '/v1/models')).body);
        if (list.data.every(m => m.state !== 'loading')) break;
      } catch { /* not up yet */ }
    }
    await sleep(50);
  }
  return { port, url: `http://127.0.0.1:${port}`, child };
}
async function stopServer(s) {
  if (!s || s.child.exitCode !== null) return;
  const done = new Promise(r => s.child.once('exit', r));
  s.child.kill('SIGTERM');
  await Promise.race([done, sleep(5000)]);
  if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
}

// ---- page helpers ----
async function openTab(page, name) {
  await page.click(`#tab-${name}`);
  await page.waitForSelector(`#panel-${name}:not([hidden])`);
}
async function shoot(page, name) {
  let over = 0;
  for (const [label, width] of Object.entries(WIDTHS)) {
    await page.setViewportSize({ width, height: 900 });
    await page.waitForTimeout(50);
    await page.screenshot({ path: path.join(SHOTS, `${name}-${width}.png`), fullPage: true });
    if (label === 'mobile') over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  }
  await page.setViewportSize({ width: WIDTHS.desktop, height: 900 });
  assert(over <= 1, `${name}: the page scrolls sideways at ${WIDTHS.mobile} px (${over} px too wide)`);
}
const errorText = (page, id) => page.$eval(`#${id}`, e => (e.hidden ? '' : e.textContent));
async function waitError(page, id) {
  await page.waitForSelector(`#${id}:not([hidden])`, { timeout: UI_TIMEOUT_MS });
  return errorText(page, id);
}

// ---- the CORS page: another origin that calls the API with fetch on load ----
const CORS_PAGE = `<!doctype html><meta charset="utf-8"><title>other origin</title>
<pre id="result">pending</pre>
<script>
const api = new URL(location.href).searchParams.get('api');
(async () => {
  try {
    const list = await fetch(api + '/v1/models').then(r => r.json());
    const res = await fetch(api + '/v1/score', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'tiny-ngram', input: 'the cat sat' }) });
    const score = await res.json();
    document.getElementById('result').textContent = JSON.stringify({ ok: true, models: list.data.length,
      score_status: res.status, log10_prob: score.data?.[0]?.log10_prob, error: score.error?.message });
  } catch (e) {
    document.getElementById('result').textContent = JSON.stringify({ ok: false, error: String(e) });
  }
})();
</script>`;
async function startOtherOrigin() {
  const port = await freePort();
  const srv = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(CORS_PAGE);
  });
  await new Promise(r => srv.listen(port, '127.0.0.1', r));
  return { port, origin: `http://127.0.0.1:${port}`, close: () => new Promise(r => srv.close(r)) };
}

// ---- the checks ----
async function main() {
  fs.mkdirSync(SHOTS, { recursive: true });
  fs.mkdirSync(LOGS, { recursive: true });
  assert(fs.existsSync(BIN), `no lmserve binary at ${BIN} (run make all)`);
  assert(fs.existsSync(CHROMIUM), `no browser at ${CHROMIUM} (apt-get install chromium chromium-driver)`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lmserve-web-'));
  writeFixtures(tmp);
  const sharedTf = fs.existsSync(path.join(SHARED, 'stories260K.bin')) && fs.existsSync(path.join(SHARED, 'tok512.bin'));
  if (!sharedTf) console.log(`note: ${SHARED}/stories260K.bin absent: Transformer checks are skipped`);

  const other = await startOtherOrigin();
  const models = ['--model', `tiny-ngram=ngram:${path.join(tmp, 'tiny.arpa')}`,
    '--model', `tiny-vec=embedding:${path.join(tmp, 'tiny.vec')}`];
  // The chat panel's model: a random llama2.c checkpoint given the chatml template.
  const ckptGen = path.join(path.dirname(BIN), 'lmserve-ckpt-gen');
  if (fs.existsSync(ckptGen)) {
    execFileSync(ckptGen, ['-o', path.join(tmp, 'chat.bin'), '--tokenizer', path.join(tmp, 'chat.tok'), '--dim', '64',
      '--hidden', '128', '--layers', '2', '--heads', '4', '--kv-heads', '2', '--vocab', '512', '--seq', '512', '--seed', '4']);
    models.push('--model', `chat-tiny=transformer:${path.join(tmp, 'chat.bin')},tokenizer=chat.tok,chat_template=chatml`);
  }
  if (sharedTf) models.push('--model', `stories=transformer:${path.join(SHARED, 'stories260K.bin')},tokenizer=${path.join(SHARED, 'tok512.bin')}`);
  // A BERT sentence encoder: random weights with the bge WordPiece vocabulary (../shared/vocab).
  const bgeVocab = path.resolve(SHARED, '..', 'vocab', 'ggml-vocab-bert-bge.gguf');
  const ggufTool = path.join(path.dirname(BIN), 'lmserve-gguf');
  if (fs.existsSync(bgeVocab) && fs.existsSync(ggufTool)) {
    execFileSync(ggufTool, ['random', '-o', path.join(tmp, 'bert.gguf'), '--arch', 'bert', '--vocab-from', bgeVocab,
      '--dim', '64', '--hidden', '128', '--layers', '2', '--heads', '4', '--ctx', '128', '--seed', '2']);
    models.push('--model', `tiny-bert=transformer:${path.join(tmp, 'bert.gguf')}`);
  }
  const srv = await startServer('lmserve', [...models, '--admin-key', ADMIN_KEY, '--models-root', tmp]);
  // A model of a type this build lacks (its area not merged yet) is refused at start-up with
  // "unknown model type" and is absent from the registry: its checks are skipped with that
  // reason. Any other load failure is a test failure.
  const states = Object.fromEntries(JSON.parse((await httpRaw(srv.port, 'GET', '/v1/models')).body).data.map(m => [m.id, m]));
  const srvLog = fs.readFileSync(path.join(LOGS, 'lmserve.log'), 'utf8');
  const configured = models.filter(a => a !== '--model').map(a => a.split('=')[0]);
  const why = (id) => states[id] ? `${id}: ${states[id].state} ${states[id].error || ''}`
    : (new RegExp(`model '${id}': ([^\\n]*)`).exec(srvLog)?.[1] || `${id}: not loaded`);
  // Likewise a route whose handler has not landed answers 404 "... is not available in this build".
  const routes = {};
  for (const r of ['/v1/score', '/v1/next', '/v1/neighbors', '/v1/embeddings', '/v1/completions', '/v1/chat/completions']) {
    const res = await apiPost(srv.port, r, {});
    routes[r] = !(res.status === 404 && /not available in this build/.test(res.json.error?.message || ''));
  }
  const need = (...ids) => {
    for (const id of ids) {
      if (id.startsWith('/')) { if (!routes[id]) throw new Skip(`${id} is not available in this build`); }
      else if (states[id]?.state !== 'ready') throw new Skip(`${id}: ${why(id)}`);
    }
  };
  const hasNgram = states['tiny-ngram']?.state === 'ready' && routes['/v1/score'];
  const hasTf = states.stories?.state === 'ready';

  const userData = fs.mkdtempSync(path.join(os.tmpdir(), 'lmserve-web-chromium-'));
  const ctx = await chromium.launchPersistentContext(userData, {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS,
    viewport: { width: WIDTHS.desktop, height: 900 },
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  const consoleErrors = [];
  page.on('pageerror', e => consoleErrors.push(String(e)));
  try {
    // ---- static serving ----
    await check('static: / is the playground and every asset is served with its type', async () => {
      const r = await httpRaw(srv.port, 'GET', '/');
      assert(r.status === 200, `GET / -> ${r.status}`);
      assert(/^text\/html/.test(r.headers['content-type']), `GET / type ${r.headers['content-type']}`);
      for (const [f, type] of [['style.css', /^text\/css/], ['app.js', /javascript/], ['index.html', /^text\/html/]]) {
        const a = await httpRaw(srv.port, 'GET', `/web/${f}`);
        assert(a.status === 200 && type.test(a.headers['content-type']), `/web/${f} -> ${a.status} ${a.headers['content-type']}`);
      }
    });
    await check('static: path traversal and missing files are 404 with the error object', async () => {
      for (const p of ['/web/../Makefile', '/web/..%2fMakefile', '/web/%2e%2e/Makefile', '/web/nope.js', '/web/.hidden']) {
        const r = await httpRaw(srv.port, 'GET', p);
        assert(r.status === 404, `${p} -> ${r.status}`);
        assert(JSON.parse(r.body).error?.message, `${p}: no error object`);
      }
    });

    // ---- models ----
    await page.goto(srv.url + '/');
    await check('models: every configured model of a type in this build loads', async () => {
      for (const id of configured) {
        if (!states[id] && /unknown model type/.test(why(id))) { console.log(`     note: ${id}: ${why(id)} (its checks are skipped)`); continue; }
        assert(states[id]?.state === 'ready', why(id));
      }
    });
    await check('models: the registry table shows every model with its state, error and details', async () => {
      await page.waitForFunction(() => /\d+ models?:/.test(document.getElementById('models-summary').textContent), null, { timeout: UI_TIMEOUT_MS });
      if (!Object.keys(states).length) assert(/No models/.test(await page.textContent('#models-table tbody')), 'empty registry not said');
      const rows = await page.$$eval('#models-table tbody tr[data-id]', trs => trs.map(tr => ({
        id: tr.dataset.id, state: tr.querySelector('.state').textContent,
        error: tr.querySelector('.model-error')?.textContent ?? '' })));
      for (const [id, m] of Object.entries(states)) {
        const r = rows.find(x => x.id === id);
        assert(r, `row ${id} missing: ${JSON.stringify(rows)}`);
        assert(r.state === m.state, `${id}: page says ${r.state}, API ${m.state}`);
        if (m.error) assert(r.error === m.error, `${id}: error shown "${r.error}", API "${m.error}"`);
      }
      const withDetails = Object.keys(states).find(id => states[id].state === 'ready' && Object.keys(states[id].details || {}).length);
      if (withDetails) {
        await page.click(`#models-table tr[data-id="${withDetails}"] summary`);
        const det = JSON.parse(await page.textContent(`#models-table tr[data-id="${withDetails}"] details pre`));
        assert(JSON.stringify(det) === JSON.stringify(states[withDetails].details), 'details differ from the API');
      }
      assert(/\d+ models?:/.test(await page.textContent('#models-summary')), 'no summary');
    });
    await check('layout: models at 375 px and 1280 px (screenshots)', () => shoot(page, 'models'));
    await check('models: load without the admin key shows the API error message', async () => {
      const api = await httpRaw(srv.port, 'POST', '/v1/models', { headers: { 'Content-Type': 'application/json' },
        body: { id: 'second', type: 'ngram', path: 'tiny.arpa' } });
      const want = JSON.parse(api.body).error.message;
      await page.fill('#admin-key', '');
      await page.fill('#load-id', 'second');
      await page.fill('#load-type', 'ngram');
      await page.fill('#load-path', 'tiny.arpa');
      await page.click('#load-submit');
      const got = await waitError(page, 'models-error');
      assert(got === want, `shown "${got}", API said "${want}"`);
    });
    await check('models: load and unload with the admin key', async () => {
      need('tiny-ngram');
      await page.fill('#admin-key', ADMIN_KEY);
      await page.click('#load-submit');
      await page.waitForSelector('#models-table tr[data-id="second"]', { timeout: UI_TIMEOUT_MS });
      assert(await errorText(page, 'models-error') === '', 'error still shown after a good load');
      await page.click('#models-table tr[data-id="second"] button');
      await page.waitForSelector('#models-table tr[data-id="second"]', { state: 'detached', timeout: UI_TIMEOUT_MS });
      const list = JSON.parse((await httpRaw(srv.port, 'GET', '/v1/models')).body);
      assert(!list.data.some(m => m.id === 'second'), 'server still lists the unloaded model');
    });
    await check('models: a wrong admin key shows the API error message', async () => {
      const api = await httpRaw(srv.port, 'DELETE', '/v1/models/tiny-vec', { headers: { Authorization: 'Bearer wrong' } });
      assert(api.status === 403, `API status ${api.status}`);
      await page.fill('#admin-key', 'wrong');
      await page.click('#load-submit');
      const got = await waitError(page, 'models-error');
      assert(got === JSON.parse(api.body).error.message, `shown "${got}", API "${JSON.parse(api.body).error.message}"`);
      await page.fill('#admin-key', '');
    });

    // ---- score ----
    await openTab(page, 'score');
    await check('score: per-token colour strips, n-gram and Transformer side by side', async () => {
      need('tiny-ngram', '/v1/score');
      await page.selectOption('#score-model-a', 'tiny-ngram');
      await page.$eval('#score-model-b', (s, v) => { s.value = v; }, hasTf ? 'stories' : '');
      await page.fill('#score-input', 'the cat sat on the mat\nthe mat sat');
      await page.click('#score-submit');
      const cols = hasTf ? 2 : 1;
      await page.waitForFunction(n => document.querySelectorAll('#score-results .col').length === n
        && [...document.querySelectorAll('#score-results .col')].every(c => c.querySelector('.tok, .error')), cols, { timeout: UI_TIMEOUT_MS });
      const ngram = await page.$$eval('#score-results .col[data-model="tiny-ngram"] .sentence', ss => ss.map(s => ({
        stats: s.querySelector('.stats').textContent,
        toks: [...s.querySelectorAll('.tok')].map(t => ({ text: t.firstChild.textContent, l10: Number(t.querySelector('small').textContent), bg: t.style.background })) })));
      assert(ngram.length === 2, `${ngram.length} sentences`);
      assert(ngram[0].toks.length === 7, `sentence 1 has ${ngram[0].toks.length} tokens (6 words + </s>)`);
      assert(ngram[0].toks.every(t => /hsl|rgb/.test(t.bg)), 'tokens without colour');
      assert(ngram[0].stats.includes('perplexity'), 'no perplexity');
      const api = await apiPost(srv.port, '/v1/score', { model: 'tiny-ngram', input: 'the cat sat on the mat', detail: true });
      const d0 = api.json.data[0].detail;
      for (let i = 0; i < d0.length; i++) {
        assert(Math.abs(ngram[0].toks[i].l10 - d0[i].log10_prob) < 0.006, `token ${i}: page ${ngram[0].toks[i].l10}, API ${d0[i].log10_prob}`);
      }
      const colours = new Set(ngram[0].toks.map(t => t.bg));
      assert(colours.size > 1, 'every token has the same colour');
      if (hasTf) {
        const n = await page.$$eval('#score-results .col[data-model="stories"] .tok', ts => ts.length);
        const err = await page.$$eval('#score-results .col[data-model="stories"] .error', es => es.map(e => e.textContent));
        assert(n > 0, `Transformer column has no tokens (${err.join('; ')})`);
      }
    });
    if (!hasTf) skip('score: Transformer column', sharedTf ? why('stories') : 'stories260K absent');
    await check('layout: score at 375 px and 1280 px (screenshots)', () => shoot(page, 'score'));
    await check('score: an API error is shown as its message', async () => {
      await page.fill('#score-input', '   ');
      await page.click('#score-submit');
      assert((await waitError(page, 'score-error')).length > 0, 'no message for empty input');
      // A real API error: the n-gram model asked for embeddings-only? Use an unknown model id.
      await page.evaluate(() => { const s = document.getElementById('score-model-a'); s.append(new Option('gone', 'gone')); s.value = 'gone'; });
      await page.$eval('#score-model-b', s => { s.value = ''; });
      await page.fill('#score-input', 'the cat');
      await page.click('#score-submit');
      await page.waitForSelector('#score-results .col[data-model="gone"] .error', { timeout: UI_TIMEOUT_MS });
      const shown = await page.textContent('#score-results .col[data-model="gone"] .error');
      const api = await apiPost(srv.port, '/v1/score', { model: 'gone', input: ['the cat'], detail: true });
      assert(shown === api.json.error.message, `shown "${shown}", API "${api.json.error.message}"`);
    });

    // ---- next ----
    await openTab(page, 'next');
    for (const [id, ctxText] of [['tiny-ngram', 'the cat'], ...(hasTf ? [['stories', 'Once upon a']] : [])]) {
      await check(`next: top-k bar chart from ${id}`, async () => {
        need(id, '/v1/next');
        await page.selectOption('#next-model', id);
        await page.fill('#next-context', ctxText);
        await page.fill('#next-topk', '5');
        await page.$eval('#next-results', ol => ol.replaceChildren()); // wait for this answer, not the last one
        await page.click('#next-submit');
        await page.waitForFunction(() => document.querySelectorAll('#next-results li').length > 0, null, { timeout: UI_TIMEOUT_MS });
        const items = await page.$$eval('#next-results li', lis => lis.map(li => ({
          label: li.querySelector('.label').textContent, width: parseFloat(li.querySelector('.bar span').style.width) })));
        assert(items.length === 5, `${items.length} bars`);
        assert(items[0].width > 99, `first bar ${items[0].width}%`);
        for (let i = 1; i < items.length; i++) assert(items[i].width <= items[i - 1].width + 1e-9, 'bars not sorted');
        const api = await apiPost(srv.port, '/v1/next', { model: id, context: ctxText, top_k: 5 });
        const first = api.json.data[0];
        const label = String(first.word ?? first.token ?? first.text);
        assert(items[0].label === JSON.stringify(label).slice(1, -1), `first "${items[0].label}", API "${label}"`);
        if (id === 'tiny-ngram') assert(items[0].label === 'sat', `after "the cat" expected "sat", got "${items[0].label}"`);
      });
      if (id === 'tiny-ngram') await check('layout: next at 375 px and 1280 px (screenshots)', () => shoot(page, 'next'));
    }
    if (!hasTf) skip('next: Transformer', sharedTf ? why('stories') : 'stories260K absent');
    await check('next: top_k out of range shows the API error message', async () => {
      need('tiny-ngram', '/v1/next');
      await page.selectOption('#next-model', 'tiny-ngram');
      await page.evaluate(() => { document.getElementById('next-topk').value = '1000000'; });
      await page.click('#next-submit');
      const shown = await waitError(page, 'next-error');
      const api = await apiPost(srv.port, '/v1/next', { model: 'tiny-ngram', context: 'the cat', top_k: 1000000 });
      assert(api.status === 400, `API status ${api.status}`);
      assert(shown === api.json.error.message, `shown "${shown}", API "${api.json.error.message}"`);
      await page.fill('#next-topk', '10');
    });

    // ---- neighbours ----
    await openTab(page, 'neighbors');
    const plotInk = () => page.evaluate(() => {
      const c = document.getElementById('nb-plot');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let ink = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) ink++;
      return ink;
    });
    await check('neighbours: ranked list and a 2-D projection of a word', async () => {
      need('tiny-vec', '/v1/neighbors', '/v1/embeddings');
      await page.selectOption('#nb-model', 'tiny-vec');
      await page.check('#nb-mode-word');
      await page.fill('#nb-word', 'king');
      await page.fill('#nb-topk', '4');
      await page.click('#nb-submit');
      await page.waitForFunction(() => document.getElementById('nb-plot-caption').textContent.includes('PCA'), null, { timeout: UI_TIMEOUT_MS });
      const words = await page.$$eval('#nb-results .label', ls => ls.map(l => l.textContent));
      const api = await apiPost(srv.port, '/v1/neighbors', { model: 'tiny-vec', word: 'king', top_k: 4 });
      assert(JSON.stringify(words) === JSON.stringify(api.json.data.map(d => d.word)), `page ${words}, API ${api.json.data.map(d => d.word)}`);
      assert(!words.includes('king'), 'the query word is among its neighbours');
      assert(await plotInk() > 500, 'the plot is blank');
    });
    await check('neighbours: analogy king - man + woman = queen', async () => {
      need('tiny-vec', '/v1/neighbors', '/v1/embeddings');
      await page.check('#nb-mode-analogy');
      await page.fill('#nb-positive', 'woman, king');
      await page.fill('#nb-negative', 'man');
      await page.fill('#nb-topk', '3');
      await page.click('#nb-submit');
      await page.waitForFunction(() => document.getElementById('nb-plot-caption').textContent.includes('−man'), null, { timeout: UI_TIMEOUT_MS });
      const first = await page.textContent('#nb-results li:first-child .label');
      assert(first === 'queen', `first answer "${first}"`);
      assert(await plotInk() > 500, 'the plot is blank');
    });
    await check('neighbours: sentences ranked by a BERT encoder\'s embeddings, as the API ranks them', async () => {
      need('tiny-bert', '/v1/embeddings');
      await page.check('#nb-mode-sentences');
      await page.selectOption('#nb-smodel', 'tiny-bert');
      await page.fill('#nb-query', 'A king rules the land.');
      await page.fill('#nb-sentences', 'The queen rules the kingdom.\nA cat sleeps on the mat.\nRain falls on the city.');
      await page.fill('#nb-topk', '3');
      await page.click('#nb-submit');
      await page.waitForFunction(() => document.getElementById('nb-plot-caption').textContent.includes('sentence vectors'), null, { timeout: UI_TIMEOUT_MS });
      const shown = await page.$$eval('#nb-results .label', ls => ls.map(l => l.textContent));
      const list = ['The queen rules the kingdom.', 'A cat sleeps on the mat.', 'Rain falls on the city.'];
      const api = await apiPost(srv.port, '/v1/embeddings', { model: 'tiny-bert', input: ['A king rules the land.', ...list] });
      const v = api.json.data.map(d => d.embedding);
      const want = list.map((s, i) => [s, v[0].reduce((a, x, j) => a + x * v[i + 1][j], 0)]).sort((a, b) => b[1] - a[1]).map(p => p[0]);
      assert(JSON.stringify(shown) === JSON.stringify(want), `page ${shown}, API ${want}`);
      assert(await plotInk() > 500, 'the plot is blank');
      await page.check('#nb-mode-word');
    });
    await check('models: a BERT model shows its architecture', async () => {
      need('tiny-bert');
      await openTab(page, 'models');
      const cell = await page.textContent('#models-table tr[data-id="tiny-bert"] td[data-label="type"]');
      assert(/bert/.test(cell) && /encoder, mean pooling/.test(cell) && /embeddings/.test(cell), `type cell "${cell}"`);
      await openTab(page, 'neighbors');
    });
    await check('layout: neighbors at 375 px and 1280 px (screenshots)', () => shoot(page, 'neighbors'));
    await check('neighbours: an unknown word shows the API error message', async () => {
      need('tiny-vec', '/v1/neighbors', '/v1/embeddings');
      await page.check('#nb-mode-word');
      await page.fill('#nb-word', 'xyzzyunknown');
      await page.click('#nb-submit');
      const shown = await waitError(page, 'nb-error');
      const api = await apiPost(srv.port, '/v1/neighbors', { model: 'tiny-vec', word: 'xyzzyunknown', top_k: 4 });
      assert(api.status >= 400 && shown === api.json.error.message, `shown "${shown}", API ${api.status} "${api.json.error?.message}"`);
    });

    // ---- generate ----
    await openTab(page, 'generate');
    if (hasTf) {
      await check('generate: tokens stream into the page, greedy output equals the API', async () => {
        need('/v1/completions');
        await page.selectOption('#gen-model', 'stories');
        await page.fill('#gen-prompt', 'Once upon a time');
        await page.fill('#gen-max', '40');
        await page.fill('#gen-temp', '0');
        await page.fill('#gen-seed', '7');
        await page.click('#gen-submit');
        await page.waitForFunction(() => /tokens in/.test(document.getElementById('gen-status').textContent)
          || !document.getElementById('gen-error').hidden, null, { timeout: UI_TIMEOUT_MS });
        assert(await errorText(page, 'gen-error') === '', `error: ${await errorText(page, 'gen-error')}`);
        const spans = await page.$$eval('#gen-output .gen', ss => ss.map(s => s.textContent));
        assert(spans.length > 1, `${spans.length} streamed pieces`);
        const api = await apiPost(srv.port, '/v1/completions', { model: 'stories', prompt: 'Once upon a time', max_tokens: 40, temperature: 0, seed: 7 });
        assert(spans.join('') === api.json.choices[0].text, `page "${spans.join('')}" vs API "${api.json.choices[0].text}"`);
      });
      await check('layout: generate at 375 px and 1280 px (screenshots)', () => shoot(page, 'generate'));
      await check('generate: Stop cancels the streaming request', async () => {
        need('/v1/completions');
        await page.fill('#gen-max', '400');
        await page.fill('#gen-temp', '1');
        // Click Stop from inside the page as soon as the first token is shown, so the test does
        // not race a fast model to the end.
        await page.evaluate(() => {
          const out = document.getElementById('gen-output');
          const mo = new MutationObserver(() => {
            if (out.querySelector('.gen')) { mo.disconnect(); document.getElementById('gen-stop').click(); }
          });
          mo.observe(out, { childList: true });
        });
        await page.click('#gen-submit');
        await page.waitForFunction(() => /Stopped|tokens in/.test(document.getElementById('gen-status').textContent), null, { timeout: UI_TIMEOUT_MS });
        const status = await page.textContent('#gen-status');
        assert(/^Stopped after \d+ tokens/.test(status), `status "${status}"`);
        const n = Number(/(\d+)/.exec(status)[1]);
        assert(n < 400, `${n} tokens before stopping`);
        assert(await page.isEnabled('#gen-submit'), 'Generate not enabled again');
        assert((await httpRaw(srv.port, 'GET', '/health')).status === 200, 'server unhealthy after the cancel');
      });
      await check('generate: an API error is shown as its message', async () => {
        need('/v1/completions');
        await page.fill('#gen-max', '-5');
        await page.click('#gen-submit');
        const shown = await waitError(page, 'gen-error');
        const api = await apiPost(srv.port, '/v1/completions', { model: 'stories', prompt: 'Once upon a time', max_tokens: -5, temperature: 1, top_p: 0.95, top_k: 0, stream: true });
        assert(api.status === 400 && shown === api.json.error.message, `shown "${shown}", API ${api.status} "${api.json.error?.message}"`);
        await page.fill('#gen-max', '64');
      });
    } else {
      skip('generate: streaming, stop, errors', sharedTf ? why('stories') : 'stories260K absent');
      await check('layout: generate at 375 px and 1280 px (screenshots)', () => shoot(page, 'generate'));
    }

    // ---- chat ----
    await openTab(page, 'chat');
    const chatApi = (messages, extra = {}) => apiPost(srv.port, '/v1/chat/completions',
      { model: 'chat-tiny', messages, max_tokens: 12, temperature: 0, ...extra });
    const chatDone = () => page.waitForFunction(() => /pieces in|Stopped/.test(document.getElementById('chat-status').textContent)
      || !document.getElementById('chat-error').hidden, null, { timeout: UI_TIMEOUT_MS });
    await check('chat: only models with a chat template are offered', async () => {
      need('chat-tiny', '/v1/chat/completions');
      const offered = await page.$$eval('#chat-model option', os => os.map(o => o.value));
      assert(offered.length === 1 && offered[0] === 'chat-tiny', `offered: ${offered}`);
    });
    await check('chat: a two-turn conversation streams, each greedy answer equals the API', async () => {
      need('chat-tiny', '/v1/chat/completions');
      await page.click('#chat-clear');
      await page.selectOption('#chat-model', 'chat-tiny');
      await page.fill('#chat-system', 'Be brief.');
      await page.fill('#chat-max', '12');
      await page.fill('#chat-temp', '0');
      await page.fill('#chat-input', 'Hello');
      await page.focus('#chat-input');
      await page.keyboard.press('Enter'); // Enter sends
      await chatDone();
      assert(await errorText(page, 'chat-error') === '', `error: ${await errorText(page, 'chat-error')}`);
      const first = await page.$$eval('#chat-log .msg-assistant .content', ss => ss.map(s => s.textContent));
      const sys = { role: 'system', content: 'Be brief.' };
      const api1 = await chatApi([sys, { role: 'user', content: 'Hello' }]);
      assert(api1.status === 200, `API ${api1.status}`);
      const a1 = api1.json.choices[0].message.content;
      assert(first.length === 1 && first[0] === a1, `page "${first}" vs API "${a1}"`);
      assert(await page.inputValue('#chat-input') === '', 'the sent message stays in the box');
      await page.fill('#chat-input', 'And then?');
      await page.click('#chat-submit');
      await page.waitForFunction(() => document.querySelectorAll('#chat-log .msg-assistant').length === 2
        && /pieces in/.test(document.getElementById('chat-status').textContent), null, { timeout: UI_TIMEOUT_MS });
      const both = await page.$$eval('#chat-log .msg-assistant .content', ss => ss.map(s => s.textContent));
      const api2 = await chatApi([sys, { role: 'user', content: 'Hello' }, { role: 'assistant', content: a1 },
        { role: 'user', content: 'And then?' }]);
      assert(both[1] === api2.json.choices[0].message.content, `turn 2: page "${both[1]}" vs API "${api2.json.choices[0].message.content}"`);
      const users = await page.$$eval('#chat-log .msg-user .content', ss => ss.map(s => s.textContent));
      assert(users.join('|') === 'Hello|And then?', `user bubbles: ${users}`);
    });
    await check('layout: chat at 375 px and 1280 px (screenshots)', () => shoot(page, 'chat'));
    await check('chat: Stop cancels the streaming request and keeps the partial answer', async () => {
      need('chat-tiny', '/v1/chat/completions');
      await page.click('#chat-clear');
      await page.fill('#chat-max', '400');
      await page.fill('#chat-temp', '1');
      await page.fill('#chat-input', 'Go on and on');
      await page.evaluate(() => {
        const log = document.getElementById('chat-log');
        const mo = new MutationObserver(() => {
          const a = log.querySelector('.msg-assistant .content');
          if (a && a.textContent) { mo.disconnect(); document.getElementById('chat-stop').click(); }
        });
        mo.observe(log, { childList: true, subtree: true, characterData: true });
      });
      await page.click('#chat-submit');
      await chatDone();
      const status = await page.textContent('#chat-status');
      assert(/^Stopped after \d+ pieces|pieces in/.test(status), `status "${status}"`);
      assert(await page.isEnabled('#chat-submit'), 'Send not enabled again');
      assert((await httpRaw(srv.port, 'GET', '/health')).status === 200, 'server unhealthy after the cancel');
    });
    await check('chat: an API error is shown as its message and the turn is taken back', async () => {
      need('chat-tiny', '/v1/chat/completions');
      await page.click('#chat-clear');
      await page.fill('#chat-max', '-5');
      await page.fill('#chat-input', 'Hi');
      await page.click('#chat-submit');
      const shown = await waitError(page, 'chat-error');
      const api = await chatApi([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }], { max_tokens: -5, temperature: 1, stream: true });
      assert(api.status === 400 && shown === api.json.error.message, `shown "${shown}", API ${api.status} "${api.json.error?.message}"`);
      assert(await page.$$eval('#chat-log li', ls => ls.length) === 0, 'failed turn left in the conversation');
      assert(await page.inputValue('#chat-input') === 'Hi', 'the message was lost');
      await page.fill('#chat-max', '64');
    });

    // ---- accessibility and layout ----
    await check('keyboard: tabs move with the arrow keys and every control has a label', async () => {
      await page.focus('#tab-chat');
      await page.keyboard.press('ArrowRight');
      assert(await page.getAttribute('#tab-models', 'aria-selected') === 'true', 'ArrowRight from the last tab did not wrap to Models');
      assert(await page.evaluate(() => document.activeElement.id) === 'tab-models', 'focus did not follow');
      await page.keyboard.press('ArrowRight');
      assert(await page.isVisible('#panel-score'), 'Score panel not shown');
      await page.keyboard.press('End');
      assert(await page.isVisible('#panel-chat'), 'End did not select the last tab');
      const unlabelled = await page.$$eval('input, select, textarea, button', els => els
        .filter(e => e.type !== 'hidden')
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
        .map(e => e.id || e.outerHTML.slice(0, 60)));
      assert(unlabelled.length === 0, `unlabelled: ${unlabelled}`);
      // Tab from the selected tab reaches the panel then its first field: the tab order is the reading order.
      await page.focus('#tab-next');
      await page.keyboard.press('Enter');
      await page.keyboard.press('Tab');
      await page.keyboard.press('Tab');
      const focused = await page.evaluate(() => document.activeElement.id);
      assert(focused === 'next-model', `second Tab from the tab list focused "${focused}"`);
      const ring = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
      assert(ring !== 'none', 'no visible focus ring');
    });
    await check('keyboard: a panel can be used without the mouse (Enter submits)', async () => {
      need('tiny-ngram', '/v1/next');
      await page.selectOption('#next-model', 'tiny-ngram');
      await page.fill('#next-context', 'on the');
      await page.focus('#next-context');
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => document.querySelector('#next-results li .label')?.textContent === 'mat', null, { timeout: UI_TIMEOUT_MS });
    });
    await check('page: no uncaught script errors', async () => {
      assert(consoleErrors.length === 0, consoleErrors.join('; '));
    });
  } finally {
    await ctx.close().catch(() => {});
  }

  // ---- CORS: a page on another origin calls the API ----
  const corsCheck = async (apiUrl) => {
    const ctx2 = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), 'lmserve-web-chromium-')),
      { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    try {
      const p = ctx2.pages()[0] || await ctx2.newPage();
      await p.goto(`${other.origin}/?api=${encodeURIComponent(apiUrl)}`);
      await p.waitForFunction(() => document.getElementById('result').textContent !== 'pending', null, { timeout: UI_TIMEOUT_MS });
      return JSON.parse(await p.textContent('#result'));
    } finally {
      await ctx2.close().catch(() => {});
    }
  };
  await check('cors: blocked when the origin is not allowed', async () => {
    const r = await corsCheck(srv.url);
    assert(r.ok === false && /fetch/i.test(r.error), `expected a blocked request, got ${JSON.stringify(r)}`);
  });
  await stopServer(srv);
  let allowed = null;
  try {
    allowed = await startServer('lmserve-cors', [models[0], models[1], '--cors-origin', other.origin]);
    await check('cors: allowed with --cors-origin (GET and a preflighted JSON POST)', async () => {
      const r = await corsCheck(allowed.url);
      assert(r.ok === true && typeof r.models === 'number', `got ${JSON.stringify(r)}`);
      // The preflighted JSON POST got through and its body was readable: a score, or (when this
      // build lacks the n-gram type) the API's own error object.
      if (hasNgram) assert(r.score_status === 200 && typeof r.log10_prob === 'number', `score: ${JSON.stringify(r)}`);
      else assert(typeof r.score_status === 'number' && typeof r.error === 'string', `score: ${JSON.stringify(r)}`);
      const pre = await httpRaw(allowed.port, 'OPTIONS', '/v1/score', { headers: {
        Origin: other.origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' } });
      assert(pre.status < 300 && pre.headers['access-control-allow-origin'], `preflight ${pre.status} ${JSON.stringify(pre.headers)}`);
      const bad = await httpRaw(allowed.port, 'GET', '/v1/models', { headers: { Origin: 'http://127.0.0.1:1' } });
      assert(!bad.headers['access-control-allow-origin'], 'another origin was allowed too');
    });
  } finally {
    await stopServer(allowed);
    await other.close();
  }
}

const stopAll = () => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL'); };
process.on('SIGINT', () => { stopAll(); process.exit(130); });
try {
  await main();
} catch (e) {
  failed++;
  failures.push('setup');
  console.log(`FAIL setup: ${(e && e.stack) || e}`);
} finally {
  stopAll();
}
console.log(`screenshots: ${SHOTS}`);
if (failures.length) console.log(`failed: ${failures.join(' | ')}`);
console.log(`web: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed ? 1 : 0);
