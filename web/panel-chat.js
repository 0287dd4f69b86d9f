// panel-chat.js: a conversation over POST /v1/chat/completions with stream:true. The page keeps
// the messages; each turn sends them all (the server renders them with the model's chat
// template), and the answer's deltas are appended as their SSE chunks arrive. Stop aborts the
// fetch (the server cancels the generation); a stopped answer stays in the conversation.
import { apiStream } from './api.js';
import { $, el, showError, intField, numField } from './ui.js';
import { sseEvents } from './sse.js';

let controller = null;
const history = []; // {role, content} of finished turns (the system message is not kept here)

function setRunning(on) {
  $('#chat-submit').disabled = on;
  $('#chat-stop').disabled = !on;
  $('#chat-clear').disabled = on;
  $('#chat-submit').toggleAttribute('aria-busy', on);
}

function bubble(role, text) {
  const content = el('span', { class: 'content' }, text);
  const li = el('li', { class: `msg-${role}` }, el('span', { class: 'role' }, role), content);
  $('#chat-log').append(li);
  li.scrollIntoView({ block: 'nearest' });
  return content;
}

async function send() {
  const input = $('#chat-input');
  const status = $('#chat-status');
  const text = input.value.trim();
  showError($('#chat-error'), null);
  if (!text) { input.focus(); return; }
  const system = $('#chat-system').value.trim();
  const messages = [...(system ? [{ role: 'system', content: system }] : []), ...history, { role: 'user', content: text }];
  const body = { model: $('#chat-model').value, messages, stream: true };
  const fields = { max_tokens: intField($('#chat-max')), temperature: numField($('#chat-temp')), seed: intField($('#chat-seed')) };
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) body[k] = v;

  controller = new AbortController();
  setRunning(true);
  const userLi = bubble('user', text);
  const out = bubble('assistant', '');
  status.textContent = 'Thinking…';
  const t0 = performance.now();
  let n = 0, finish = null, answer = '', started = false;
  const keep = () => { history.push({ role: 'user', content: text }, { role: 'assistant', content: answer }); input.value = ''; };
  try {
    const res = await apiStream('/v1/chat/completions', body, controller.signal);
    started = true;
    for await (const data of sseEvents(res)) {
      if (data === '[DONE]') break;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(chunk.error.message || JSON.stringify(chunk.error));
      const c = chunk.choices?.[0];
      if (!c) continue; // the usage-only chunk
      if (c.delta?.content) { answer += c.delta.content; out.textContent = answer; n++; }
      if (c.finish_reason) finish = c.finish_reason;
      status.textContent = `${n} pieces…`;
    }
    keep();
    const s = (performance.now() - t0) / 1000;
    status.textContent = `${n} pieces in ${s.toFixed(2)} s` + (finish ? `, finish: ${finish}` : '');
  } catch (e) {
    if (e.name === 'AbortError') {
      keep();
      status.textContent = `Stopped after ${n} pieces.`;
    } else {
      // the turn did not happen: take both bubbles back, keep the text to retry
      userLi.parentElement.remove();
      out.parentElement.remove();
      status.textContent = '';
      showError($('#chat-error'), e);
    }
    if (!started && e.name === 'AbortError') status.textContent = 'Stopped.';
  } finally {
    controller = null;
    setRunning(false);
  }
}

function clear() {
  history.length = 0;
  $('#chat-log').replaceChildren();
  $('#chat-status').textContent = '';
  showError($('#chat-error'), null);
}

export function initChat() {
  $('#chat-form').addEventListener('submit', (ev) => { ev.preventDefault(); if (!controller) send(); });
  $('#chat-input').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); if (!controller) send(); }
  });
  $('#chat-stop').addEventListener('click', () => { controller?.abort(); $('#chat-input').focus(); });
  $('#chat-clear').addEventListener('click', () => { clear(); $('#chat-input').focus(); });
  $('#chat-system').addEventListener('change', () => {
    // show the system message once at the top of a new conversation
    const log = $('#chat-log');
    if (!history.length) log.replaceChildren(...($('#chat-system').value.trim() ? [el('li', { class: 'msg-system' }, $('#chat-system').value.trim())] : []));
  });
}
