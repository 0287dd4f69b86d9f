// panel-score.js: POST /v1/score with detail under one or two LMs, one colour strip per sentence.
import { api } from './api.js';
import { $, el, busy, fmt } from './ui.js';

const LOG10_FLOOR = -6; // strip colour: log10 p at or below this is full red, 0 is full green
const HUE_GREEN = 120;

// log10 of a detail entry: n-gram gives log10_prob; a model giving only natural logprob is converted.
function log10Of(t) {
  if (typeof t.log10_prob === 'number') return t.log10_prob;
  if (typeof t.logprob === 'number') return t.logprob / Math.LN10;
  return NaN;
}

export function tokenColour(l10) {
  if (!Number.isFinite(l10)) return 'hsl(0 0% 85%)';
  const f = Math.max(0, Math.min(1, 1 - l10 / LOG10_FLOOR));
  return `hsl(${Math.round(f * HUE_GREEN)} 75% 80%)`;
}

function strip(detail) {
  return el('div', { class: 'strip' }, (detail || []).map(t => {
    const l10 = log10Of(t);
    const tip = `${t.token}: log10 p = ${fmt(l10, 4)}` + (t.order ? `, order ${t.order}` : '') + (t.oov ? ', OOV' : '');
    return el('span', { class: `tok${t.oov ? ' oov' : ''}`, style: `background:${tokenColour(l10)}`, title: tip, 'aria-label': tip },
      String(t.token).replace(/ /g, '\u00a0') || '\u00a0', el('small', { 'aria-hidden': 'true' }, fmt(l10, 2)));
  }));
}

function column(modelId, res, sentences) {
  const col = el('div', { class: 'col', 'data-model': modelId }, el('h3', {}, modelId));
  for (const d of res.data || []) {
    const stats = `log10 p ${fmt(d.log10_prob, 3)} · perplexity ${fmt(d.perplexity, 2)} · ${d.tokens} tokens` +
      (d.oov ? ` · ${d.oov} OOV` : '');
    col.append(el('div', { class: 'sentence' },
      el('div', { class: 'sr-only' }, sentences[d.index] ?? ''),
      el('div', { class: 'stats' }, stats), strip(d.detail)));
  }
  return col;
}

function errorColumn(modelId, e) {
  return el('div', { class: 'col', 'data-model': modelId }, el('h3', {}, modelId),
    el('p', { class: 'error', role: 'alert' }, e.message || String(e)));
}

export function initScore() {
  $('#score-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy($('#score-submit'), $('#score-error'), async () => {
      const sentences = $('#score-input').value.split('\n').map(s => s.trim()).filter(Boolean);
      if (!sentences.length) throw new Error('Enter at least one sentence.');
      const ids = [$('#score-model-a').value, $('#score-model-b').value].filter(Boolean);
      if (!ids.length) throw new Error('Choose a language model.');
      // Both models at once; each column shows its own result or its own error.
      const results = await Promise.allSettled(ids.map(model =>
        api('POST', '/v1/score', { body: { model, input: sentences, detail: true } })));
      $('#score-results').replaceChildren(...results.map((r, i) =>
        r.status === 'fulfilled' ? column(ids[i], r.value, sentences) : errorColumn(ids[i], r.reason)));
    });
  });
}
