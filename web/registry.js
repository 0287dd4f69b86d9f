// registry.js: the model list every panel chooses from, refreshed from GET /v1/models.
// Panels' <select data-kind="lm|embedding|transformer"> are refilled whenever it changes.
import { api } from './api.js';

const listeners = [];
export let models = [];

// Model kinds by type name: the registry names types "ngram", "embedding", "transformer";
// the patterns also accept close variants so a new type name does not hide its models.
export function kindOf(m) {
  const t = String(m.type || '').toLowerCase();
  if (/ngram|arpa|kenlm/.test(t)) return 'ngram';
  if (/embed|vector|vec|word2vec|glove|fasttext/.test(t)) return 'embedding';
  if (/transformer|llama|gguf|gpt/.test(t)) return 'transformer';
  return t;
}
// What a panel needs, as /v1/models' capabilities name it (issue 17): the menus follow what
// the server says each model can do; the type-name patterns below are the fallback for a
// server without capabilities.
const NEEDS = { lm: 'score', embedding: 'neighbors', sentences: 'embeddings', transformer: 'completions', chat: 'chat' };
export function fits(m, kind) {
  if (Array.isArray(m.capabilities) && NEEDS[kind]) return m.capabilities.includes(NEEDS[kind]);
  const k = kindOf(m);
  if (kind === 'lm') return k === 'ngram' || k === 'transformer';
  // chat: a Transformer with a chat template (details.chat_template in /v1/models)
  if (kind === 'chat') return k === 'transformer' && Boolean(m.details?.chat_template);
  // sentences: anything that embeds text (word vectors, or a BERT encoder)
  if (kind === 'sentences') return k === 'embedding' || m.details?.architecture === 'bert';
  return k === kind;
}

export function onModels(fn) { listeners.push(fn); }

export async function refreshModels() {
  const res = await api('GET', '/v1/models');
  models = Array.isArray(res?.data) ? res.data : [];
  for (const fn of listeners) fn(models);
  fillSelects();
  return models;
}

// Refill every model <select>, keeping the user's choice when it still exists. Model B of the
// score panel (data-optional) defaults to a model of the other LM family than model A.
export function fillSelects() {
  for (const sel of document.querySelectorAll('select[data-kind]')) {
    const kind = sel.dataset.kind;
    const prev = sel.value;
    const ok = models.filter(m => fits(m, kind));
    sel.replaceChildren();
    if (sel.dataset.optional) sel.append(new Option('— none —', ''));
    for (const m of ok) {
      const o = new Option(`${m.id} (${m.type}${m.state && m.state !== 'ready' ? ', ' + m.state : ''})`, m.id);
      o.dataset.kind = kindOf(m);
      sel.append(o);
    }
    if (!ok.length && !sel.dataset.optional) {
      const what = { lm: 'language model', chat: 'model with a chat template', sentences: 'embedding model' }[kind] || `${kind} model`;
      const o = new Option(`no ${what} loaded`, '');
      o.disabled = true;
      sel.append(o);
    }
    if (prev && ok.some(m => m.id === prev)) sel.value = prev;
    else if (sel.dataset.optional) {
      const a = document.getElementById('score-model-a');
      const aKind = ok.find(m => m.id === a?.value);
      const other = ok.find(m => m.id !== a?.value && (!aKind || kindOf(m) !== kindOf(aKind)));
      sel.value = other ? other.id : '';
    } else {
      const ready = ok.find(m => m.state === 'ready');
      if (ready) sel.value = ready.id;
    }
  }
}
