// api.js: the one place the playground talks to lmserve. Every failure becomes an ApiError whose
// message is the server's own error.message (or a plain network sentence), never swallowed.

export class ApiError extends Error {
  constructor(message, status, param, code) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.param = param ?? null;
    this.code = code ?? null;
  }
}

// Turn a non-2xx response into an ApiError using the {"error":{"message",...}} object.
export async function errorFrom(res) {
  let text = '';
  try { text = await res.text(); } catch { /* body lost: use the status line */ }
  try {
    const e = JSON.parse(text).error;
    if (e && typeof e.message === 'string') return new ApiError(e.message, res.status, e.param, e.code);
  } catch { /* not JSON */ }
  return new ApiError(`HTTP ${res.status} ${res.statusText}${text ? ': ' + text.slice(0, 200) : ''}`, res.status);
}

// Send one request. body (object) is sent as JSON; key adds "Authorization: Bearer KEY".
// Resolves to the parsed JSON body (or null for an empty one), rejects with ApiError.
export async function api(method, path, { body, key, signal } = {}) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (key) headers['Authorization'] = `Bearer ${key}`;
  let res;
  try {
    res = await fetch(path, { method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(`Network error: ${e.message}`, 0);
  }
  if (!res.ok) throw await errorFrom(res);
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

// Start a streamed request (SSE). Resolves to the Response once headers arrived (2xx only).
export async function apiStream(path, body, signal) {
  const res = await fetch(path, {
    method: 'POST', signal,
    headers: { 'Content-Type': 'application/json', 'Accept': 'text/event-stream' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw await errorFrom(res);
  return res;
}
