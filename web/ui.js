// ui.js: small DOM helpers shared by the panels (no framework: the page stays readable).

export const $ = (sel, root = document) => root.querySelector(sel);

// el('li', {class: 'x', title: 't'}, child, 'text', ...): children may be nodes or strings.
export function el(tag, attrs = {}, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') n.className = v;
    else if (k === 'style') n.style.cssText = v;
    else if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
    else n.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) n.append(c);
  return n;
}

// Show an error (an ApiError's message is the server's error.message) or hide the box.
export function showError(box, err) {
  if (!err) { box.hidden = true; box.textContent = ''; return; }
  box.textContent = err.message || String(err);
  box.hidden = false;
}

// Run an async action with its submit button disabled; errors go to 'box'.
export async function busy(button, box, fn) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  showError(box, null);
  try {
    await fn();
  } catch (e) {
    if (e.name !== 'AbortError') showError(box, e);
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

export function fmtBytes(n) {
  if (typeof n !== 'number') return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i && n < 10 ? 1 : 0)} ${units[i]}`;
}

export const fmt = (x, digits = 3) => (typeof x === 'number' && isFinite(x) ? x.toFixed(digits) : String(x));

// Read an integer field; empty gives undefined (the server's default applies).
export function intField(input) {
  const s = input.value.trim();
  if (s === '') return undefined;
  const v = Number(s);
  return Number.isFinite(v) ? Math.trunc(v) : undefined;
}
export function numField(input) {
  const s = input.value.trim();
  if (s === '') return undefined;
  const v = Number(s);
  return Number.isFinite(v) ? v : undefined;
}
