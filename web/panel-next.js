// panel-next.js: POST /v1/next, the top-k continuations as a horizontal bar chart.
import { api } from './api.js';
import { $, el, busy, intField, fmt } from './ui.js';

export function initNext() {
  $('#next-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy($('#next-submit'), $('#next-error'), async () => {
      const body = { model: $('#next-model').value, context: $('#next-context').value };
      const k = intField($('#next-topk'));
      if (k !== undefined) body.top_k = k;
      const res = await api('POST', '/v1/next', { body });
      const items = res.data || res.tokens || [];
      const prob = (t) => (typeof t.prob === 'number' ? t.prob : Math.pow(10, t.log10_prob ?? -Infinity));
      const max = Math.max(1e-12, ...items.map(prob));
      $('#next-results').replaceChildren(...items.map(t => {
        const word = t.word ?? t.token ?? t.text ?? '';
        const p = prob(t);
        return el('li', {},
          el('span', { class: 'label' }, JSON.stringify(String(word)).slice(1, -1) || '\u00a0'),
          el('span', { class: 'bar', role: 'img', 'aria-label': `probability ${fmt(p, 4)}` },
            el('span', { style: `width:${(100 * p / max).toFixed(1)}%` }), el('em', {}, fmt(p, 4))));
      }));
    });
  });
}
