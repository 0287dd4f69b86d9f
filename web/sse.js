// sse.js: a server-sent-events reader over fetch()'s ReadableStream (EventSource cannot POST).
// Yields the data of each event as a string; comments (":") and other fields are skipped.

export async function* sseEvents(res) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder('utf-8'); // stream mode: a UTF-8 sequence may span chunks
  let buf = '';
  let data = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buf += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + (buf[nl] === '\r' && buf[nl + 1] === '\n' ? 2 : 1));
        if (line === '') { // blank line: dispatch
          if (data.length) yield data.join('\n');
          data = [];
        } else if (line.startsWith('data:')) {
          data.push(line.slice(line[5] === ' ' ? 6 : 5));
        }
      }
      if (done) break;
    }
    if (data.length) yield data.join('\n'); // a stream cut before its final blank line
  } finally {
    reader.releaseLock();
  }
}
