// panel-generate.js: POST /v1/completions with stream:true; tokens are appended as their SSE
// chunks arrive, and Stop aborts the fetch (the server cancels the generation when we go away).
import { apiStream } from './api.js';
import { $, el, showError, intField, numField } from './ui.js';
import { sseEvents } from './sse.js';

let controller = null;

function setRunning(on) {
  $('#gen-submit').disabled = on;
  $('#gen-stop').disabled = !on;
  $('#gen-submit').toggleAttribute('aria-busy', on);
}

async function generate() {
  const out = $('#gen-output');
  const status = $('#gen-status');
  showError($('#gen-error'), null);
  const body = {
    model: $('#gen-model').value,
    prompt: $('#gen-prompt').value,
    stream: true,
  };
  const fields = { max_tokens: intField($('#gen-max')), temperature: numField($('#gen-temp')),
    top_p: numField($('#gen-topp')), top_k: intField($('#gen-topk')), seed: intField($('#gen-seed')) };
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) body[k] = v;

  controller = new AbortController();
  setRunning(true);
  out.replaceChildren(el('span', { class: 'prompt' }, body.prompt));
  status.textContent = 'Generating…';
  const t0 = performance.now();
  let n = 0, finish = null;
  try {
    const res = await apiStream('/v1/completions', body, controller.signal);
    for await (const data of sseEvents(res)) {
      if (data === '[DONE]') break;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(chunk.error.message || JSON.stringify(chunk.error));
      const c = chunk.choices?.[0];
      if (!c) continue; // e.g. the usage-only chunk
      if (c.text) { out.append(el('span', { class: 'gen' }, c.text)); n++; }
      if (c.finish_reason) finish = c.finish_reason;
      status.textContent = `${n} tokens…`;
    }
    const s = (performance.now() - t0) / 1000;
    status.textContent = `${n} tokens in ${s.toFixed(2)} s (${(n / s).toFixed(1)} tok/s)` + (finish ? `, finish: ${finish}` : '');
  } catch (e) {
    if (e.name === 'AbortError') status.textContent = `Stopped after ${n} tokens.`;
    else { status.textContent = ''; showError($('#gen-error'), e); }
  } finally {
    controller = null;
    setRunning(false);
  }
}

export function initGenerate() {
  $('#gen-form').addEventListener('submit', (ev) => { ev.preventDefault(); if (!controller) generate(); });
  $('#gen-stop').addEventListener('click', () => { controller?.abort(); $('#gen-submit').focus(); });
}
