// panel-neighbors.js: POST /v1/neighbors (a word, or positive/negative sets for analogies), a
// ranked list, and a 2-D PCA of the query words and their neighbours drawn on a <canvas>; or
// sentences ranked by the cosine of their /v1/embeddings vectors to a query sentence (a BERT
// encoder, or word vectors mean-pooled), with the same projection.
import { api } from './api.js';
import { $, el, busy, intField, fmt } from './ui.js';
import { pca2 } from './pca.js';

const PLOT_PAD = 36;      // CSS px kept free around the points for labels
const POINT_R = 4;        // CSS px
const COLOUR_QUERY = '#b3261e', COLOUR_NEG = '#6b4b00', COLOUR_HIT = '#1f5fbf';
const LABEL_MAX = 28;     // characters of a sentence shown beside its point

const words = (s) => s.split(',').map(w => w.trim()).filter(Boolean);

function mode() { return document.querySelector('input[name=nb-mode]:checked').value; }

function showMode() {
  const m = mode();
  for (const f of document.querySelectorAll('#nb-form [data-mode]')) f.hidden = !f.dataset.mode.split(' ').includes(m);
}

// points: [{word, x, y, role: 'query'|'negative'|'hit'}]
function draw(canvas, points) {
  const cssW = canvas.clientWidth || 480;
  const cssH = Math.round(cssW * 0.75);
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(cssW * dpr);
  canvas.height = Math.round(cssH * dpr);
  const g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, cssW, cssH);
  if (!points.length) return;
  const xs = points.map(p => p.x), ys = points.map(p => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const sx = (x) => PLOT_PAD + (x1 > x0 ? (x - x0) / (x1 - x0) : 0.5) * (cssW - 2 * PLOT_PAD);
  const sy = (y) => cssH - PLOT_PAD - (y1 > y0 ? (y - y0) / (y1 - y0) : 0.5) * (cssH - 2 * PLOT_PAD);
  g.strokeStyle = '#d5d8dc';
  g.beginPath(); g.moveTo(PLOT_PAD / 2, sy(0)); g.lineTo(cssW - PLOT_PAD / 2, sy(0));
  g.moveTo(sx(0), PLOT_PAD / 2); g.lineTo(sx(0), cssH - PLOT_PAD / 2); g.stroke();
  g.font = '13px system-ui, sans-serif';
  g.textBaseline = 'middle';
  for (const p of points) {
    const colour = p.role === 'query' ? COLOUR_QUERY : p.role === 'negative' ? COLOUR_NEG : COLOUR_HIT;
    const X = sx(p.x), Y = sy(p.y);
    g.fillStyle = colour;
    g.beginPath();
    if (p.role === 'hit') g.arc(X, Y, POINT_R, 0, 2 * Math.PI);
    else g.rect(X - POINT_R - 1, Y - POINT_R - 1, 2 * POINT_R + 2, 2 * POINT_R + 2);
    g.fill();
    g.font = p.role === 'hit' ? '13px system-ui, sans-serif' : 'bold 14px system-ui, sans-serif';
    const label = p.word.length > LABEL_MAX ? p.word.slice(0, LABEL_MAX - 1) + '…' : p.word;
    const w = g.measureText(label).width;
    g.textAlign = X + POINT_R + 4 + w > cssW ? 'right' : 'left';
    g.fillText(label, g.textAlign === 'right' ? X - POINT_R - 4 : X + POINT_R + 4, Y);
  }
}

export function initNeighbors() {
  for (const r of document.querySelectorAll('input[name=nb-mode]')) r.addEventListener('change', showMode);
  showMode();
  let last = [];
  window.addEventListener('resize', () => draw($('#nb-plot'), last));
  $('#nb-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy($('#nb-submit'), $('#nb-error'), async () => {
      if (mode() === 'sentences') {
        last = await sentences();
        return;
      }
      const model = $('#nb-model').value;
      const body = { model };
      const k = intField($('#nb-topk'));
      if (k !== undefined) body.top_k = k;
      let query = [], negative = [];
      if (mode() === 'word') {
        body.word = $('#nb-word').value.trim();
        query = [body.word];
      } else {
        body.positive = query = words($('#nb-positive').value);
        body.negative = negative = words($('#nb-negative').value);
        body.method = $('#nb-method').value;
      }
      const res = await api('POST', '/v1/neighbors', { body });
      const hits = res.data || [];
      const best = Math.max(1e-12, ...hits.map(h => Math.abs(h.score)));
      $('#nb-results').replaceChildren(...hits.map(h => el('li', {},
        el('span', { class: 'label' }, h.word),
        el('span', { class: 'bar', role: 'img', 'aria-label': `score ${fmt(h.score, 4)}` },
          el('span', { style: `width:${(100 * Math.max(0, h.score) / best).toFixed(1)}%` }), el('em', {}, fmt(h.score, 4))))));

      // The projection: vectors of the query words and the hits, one batched embeddings call.
      const all = [...query, ...negative, ...hits.map(h => h.word)];
      const roles = [...query.map(() => 'query'), ...negative.map(() => 'negative'), ...hits.map(() => 'hit')];
      last = [];
      if (all.length >= 2) {
        const emb = await api('POST', '/v1/embeddings', { body: { model, input: all } });
        const vecs = (emb.data || []).slice().sort((a, b) => a.index - b.index).map(d => d.embedding);
        if (vecs.length === all.length && vecs.every(Array.isArray)) {
          last = pca2(vecs).map(([x, y], i) => ({ word: all[i], x, y, role: roles[i] }));
        }
      }
      draw($('#nb-plot'), last);
      $('#nb-plot-caption').textContent = last.length
        ? `PCA of ${last.length} vectors: squares are the query (${[...query, ...negative.map(w => '−' + w)].join(', ')}), dots its neighbours.`
        : '';
    });
  });
}

// Sentences: one /v1/embeddings call for the query and every sentence (one forward pass for a
// BERT encoder); cosine = dot product of the unit vectors; ranked best first; the PCA plot.
async function sentences() {
  const model = $('#nb-smodel').value;
  const query = $('#nb-query').value.trim();
  const list = $('#nb-sentences').value.split('\n').map(s => s.trim()).filter(Boolean);
  if (!query || !list.length) throw new Error('Give a query sentence and at least one sentence');
  const k = intField($('#nb-topk'));
  const all = [query, ...list];
  const emb = await api('POST', '/v1/embeddings', { body: { model, input: all } });
  const vecs = (emb.data || []).slice().sort((a, b) => a.index - b.index).map(d => d.embedding);
  const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
  const hits = list.map((s, i) => ({ word: s, score: dot(vecs[0], vecs[i + 1]) }))
    .sort((a, b) => b.score - a.score).slice(0, k === undefined ? list.length : Math.max(1, k));
  const best = Math.max(1e-12, ...hits.map(h => Math.abs(h.score)));
  $('#nb-results').replaceChildren(...hits.map(h => el('li', {},
    el('span', { class: 'label' }, h.word),
    el('span', { class: 'bar', role: 'img', 'aria-label': `cosine ${fmt(h.score, 4)}` },
      el('span', { style: `width:${(100 * Math.max(0, h.score) / best).toFixed(1)}%` }), el('em', {}, fmt(h.score, 4))))));
  const points = vecs.length >= 2
    ? pca2(vecs).map(([x, y], i) => ({ word: all[i], x, y, role: i === 0 ? 'query' : 'hit' }))
    : [];
  draw($('#nb-plot'), points);
  $('#nb-plot-caption').textContent = points.length
    ? `PCA of ${points.length} sentence vectors (${emb.usage?.prompt_tokens ?? '?'} tokens): the square is the query.`
    : '';
  return points;
}
