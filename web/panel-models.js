// panel-models.js: the registry table (states, sizes, details) and the admin load/unload form.
import { api } from './api.js';
import { $, el, showError, busy, fmtBytes } from './ui.js';
import { refreshModels, onModels } from './registry.js';

const POLL_MS = 1000; // while a model is loading, refresh this often

let pollTimer = null;

function stateBadge(state) {
  return el('span', { class: `state state-${state || 'unknown'}` }, state || 'unknown');
}

function render(models) {
  const tbody = $('#models-table tbody');
  tbody.replaceChildren(...models.map(m => {
    const details = m.details && Object.keys(m.details).length
      ? el('details', {}, el('summary', {}, 'details'), el('pre', {}, JSON.stringify(m.details, null, 2)))
      : el('span', { class: 'muted' }, '—');
    const err = m.error ? el('div', { class: 'model-error' }, typeof m.error === 'string' ? m.error : (m.error.message || JSON.stringify(m.error))) : null;
    return el('tr', { 'data-id': m.id },
      el('th', { scope: 'row' }, m.id),
      el('td', { 'data-label': 'type' }, m.type || '',
        m.details?.architecture
          ? el('div', { class: 'arch', title: 'GGUF general.architecture' }, m.details.architecture +
            (m.details.encoder ? ` (encoder, ${m.details.encoder.pooling} pooling)` : ''))
          : null,
        Array.isArray(m.capabilities) && m.capabilities.length
          ? el('div', { class: 'muted caps', title: 'what this model can do (/v1/models capabilities)' }, m.capabilities.join(' · '))
          : null),
      el('td', { 'data-label': 'state' }, stateBadge(m.state), err),
      el('td', { class: 'num', 'data-label': 'size' }, fmtBytes(m.bytes)),
      el('td', { class: 'details' }, details),
      el('td', {}, el('button', {
        type: 'button', class: 'danger', 'aria-label': `Unload ${m.id}`,
        onclick: (ev) => unload(m.id, ev.currentTarget),
      }, 'Unload')));
  }));
  if (!models.length) tbody.append(el('tr', {}, el('td', { colspan: 6, class: 'muted' }, 'No models loaded.')));
  const n = (s) => models.filter(m => m.state === s).length;
  $('#models-summary').textContent =
    `${models.length} model${models.length === 1 ? '' : 's'}: ${n('ready')} ready` +
    (n('loading') ? `, ${n('loading')} loading` : '') + (n('failed') ? `, ${n('failed')} failed` : '');
  clearTimeout(pollTimer);
  if (models.some(m => m.state === 'loading' || m.state === 'unloading')) {
    pollTimer = setTimeout(() => refreshModels().catch(e => showError($('#models-error'), e)), POLL_MS);
  }
}

async function unload(id, button) {
  await busy(button, $('#models-error'), async () => {
    await api('DELETE', `/v1/models/${encodeURIComponent(id)}`, { key: $('#admin-key').value });
    $('#load-status').textContent = `Unloaded ${id}.`;
    await refreshModels();
  });
}

// "a=1, b=two" -> {a: "1", b: "two"}; values stay strings as on the command line.
function parseOptions(s) {
  const out = {};
  for (const part of s.split(',')) {
    const p = part.trim();
    if (!p) continue;
    const eq = p.indexOf('=');
    if (eq <= 0) throw new Error(`Option "${p}" is not KEY=VALUE`);
    out[p.slice(0, eq).trim()] = p.slice(eq + 1).trim();
  }
  return out;
}

export function initModels() {
  onModels(render);
  $('#models-refresh').addEventListener('click', (ev) =>
    busy(ev.currentTarget, $('#models-error'), refreshModels));
  $('#models-admin').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const status = $('#load-status');
    status.textContent = '';
    await busy($('#load-submit'), $('#models-error'), async () => {
      const body = { id: $('#load-id').value.trim(), type: $('#load-type').value.trim(), path: $('#load-path').value.trim() };
      const options = parseOptions($('#load-options').value);
      if (Object.keys(options).length) body.options = options;
      const res = await api('POST', '/v1/models', { body, key: $('#admin-key').value });
      status.textContent = `Loaded ${res?.id || body.id} (${res?.state || 'ok'}).`;
      await refreshModels();
    });
  });
}
