#!/usr/bin/env node
// validate.mjs api.yaml LOG.jsonl [LOG2.jsonl ...]
// Checks every response the API tests logged against the contract. Each log line is
//   {"method","path","status","content_type","body"[,"headers"]}
// (body: the raw response text; headers: optional, an object of name -> value or the raw
// header block). For each response: the path must match a path template of api.yaml
// (else it must be a 404 Error), the method must be documented for it (else a 405 Error with
// Allow), the status must be documented for the operation, the content type must be one the
// response documents, and the body must validate against its schema: JSON bodies whole,
// text/event-stream bodies event by event against the media type's `x-sse-data` schema.
// When headers are logged, every documented required header (X-Request-Id, Retry-After on
// 503, Allow on 405) must be present.
// Prints each failure and `contract: N passed, M failed`; exits 1 on any failure.
import { readFileSync } from "node:fs";
import {
  loadSpec,
  makeAjv,
  compileSchema,
  deref,
  pathMatcher,
  mediaType,
  ajvErrors,
  operations,
} from "./spec.mjs";

const MAX_FAILURES_SHOWN = 200;
const BODY_EXCERPT = 160;

function usage() {
  console.error("usage: node validate.mjs api.yaml LOG.jsonl [LOG.jsonl ...]");
  process.exit(2);
}

const [specPath, ...logPaths] = process.argv.slice(2);
if (!specPath || logPaths.length === 0) usage();

const loaded = loadSpec(specPath);
if (loaded.errors) {
  for (const e of loaded.errors) console.error(e);
  process.exit(2);
}
const doc = loaded.doc;
let ajv;
try {
  // The API tests run the test build (build/tests/lmserve), which adds the test-only
  // "test" model type (tests/testmodel/testmodel.c); the served contract does not list it.
  const mt = doc?.components?.schemas?.ModelType;
  if (Array.isArray(mt?.enum) && !mt.enum.includes("test")) mt.enum.push("test");
  ajv = makeAjv(doc);
} catch (e) {
  console.error(`${specPath}: schemas do not compile: ${e.message} (run lint.mjs)`);
  process.exit(2);
}
const matchPath = pathMatcher(doc);
const compiled = new Map();
function validatorFor(key, schema) {
  if (!compiled.has(key)) compiled.set(key, compileSchema(ajv, schema));
  return compiled.get(key);
}
const errorResponses = doc.components.responses;

// Lower-cased header map from an object or a raw header block; null when not logged.
function headerMap(h) {
  if (h === undefined || h === null) return null;
  const out = new Map();
  if (typeof h === "string") {
    for (const line of h.split(/\r?\n/)) {
      const i = line.indexOf(":");
      if (i > 0) out.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
    }
  } else if (typeof h === "object") {
    for (const [k, v] of Object.entries(h)) out.set(k.toLowerCase(), String(v));
  }
  return out;
}

// Split an SSE body into the data payloads of its complete events.
function sseData(body) {
  const events = [];
  const blocks = body.replace(/\r\n/g, "\n").split("\n\n");
  const complete = blocks.slice(0, -1); // the last block is unterminated (or empty)
  for (const block of complete) {
    const data = [];
    for (const line of block.split("\n")) {
      if (line === "" || line.startsWith(":")) continue; // keep-alive comment
      const i = line.indexOf(":");
      const field = i < 0 ? line : line.slice(0, i);
      let value = i < 0 ? "" : line.slice(i + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") data.push(value);
    }
    if (data.length) events.push(data.join("\n"));
  }
  return { events, trailing: blocks[blocks.length - 1] };
}

// Check one logged response against response object 'resp' (already dereferenced).
// Returns null when it conforms, else the reason.
function checkResponse(key, resp, rec, headers) {
  if (!resp) return "response object does not resolve";
  if (headers) {
    for (const [name, h] of Object.entries(resp.headers || {})) {
      const hh = deref(doc, h);
      if (hh && hh.required && !headers.has(name.toLowerCase())) {
        return `missing required header ${name}`;
      }
    }
  }
  const content = resp.content;
  if (rec.body === null && rec.method === "HEAD") return null;
  const body = rec.body ?? "";
  if (!content || Object.keys(content).length === 0) {
    return body.length === 0 ? null : `expected no body, got ${body.length} bytes`;
  }
  const mt = mediaType(rec.content_type);
  const media = Object.entries(content).find(([k]) => mediaType(k) === mt);
  if (!media) {
    return `content type '${rec.content_type ?? ""}' not documented (documented: ${Object.keys(content).join(", ")})`;
  }
  const [mtKey, mtObj] = media;
  if (mt === "application/json" || mt.endsWith("+json")) {
    let value;
    try {
      value = JSON.parse(body);
    } catch (e) {
      return `body is not JSON (${e.message}): ${JSON.stringify(body.slice(0, BODY_EXCERPT))}`;
    }
    if (!mtObj.schema) return null;
    const v = validatorFor(`${key} ${mtKey}`, mtObj.schema);
    return v(value) ? null : ajvErrors(v.errors);
  }
  if (mt === "text/event-stream") {
    const eventSchema = mtObj["x-sse-data"];
    if (!eventSchema) return null;
    const v = validatorFor(`${key} ${mtKey} sse`, eventSchema);
    const { events } = sseData(body);
    const chunks = [];
    let sawError = false;
    let done = false;
    for (const [i, data] of events.entries()) {
      if (done) return `event ${i} after [DONE]`;
      if (data === "[DONE]") {
        done = true;
        continue;
      }
      let value;
      try {
        value = JSON.parse(data);
      } catch (e) {
        return `event ${i} data is not JSON (${e.message}): ${JSON.stringify(data.slice(0, BODY_EXCERPT))}`;
      }
      if (!v(value)) return `event ${i}: ${ajvErrors(v.errors)}`;
      if (value && typeof value === "object" && "error" in value) sawError = true;
      else chunks.push(value);
    }
    // OpenAI's streaming rule: finish_reason is null until the last chunk with choices.
    const withChoices = chunks.filter((c) => Array.isArray(c.choices) && c.choices.length > 0);
    if (done && !sawError && withChoices.length > 0) {
      const finished = (c) => c.choices.some((ch) => ch.finish_reason !== null && ch.finish_reason !== undefined);
      const early = withChoices.slice(0, -1).findIndex(finished);
      if (early >= 0) return `stream chunk ${early} has a finish_reason before the last chunk`;
      if (!finished(withChoices[withChoices.length - 1])) return "the last chunk with choices has finish_reason null";
    }
    if (!done && !rec.aborted) notes.push(`${rec.method} ${rec.path}: stream has no [DONE] (aborted by the client?)`);
    return null;
  }
  // text/plain, text/html, ...: any text; a documented string schema is all we can check.
  return null;
}

const notes = [];
const failures = [];
let passed = 0;
const exercised = new Set();

function fail(rec, where, why) {
  failures.push(`${rec.method} ${rec.path} -> ${rec.status} [${where}]: ${why}`);
}

for (const logPath of logPaths) {
  let text;
  try {
    text = readFileSync(logPath, "utf8");
  } catch (e) {
    console.error(`${logPath}: ${e.message}`);
    process.exit(2);
  }
  for (const [lineNo, line] of text.split("\n").entries()) {
    if (line.trim() === "") continue;
    let rec;
    try {
      rec = JSON.parse(line);
    } catch (e) {
      failures.push(`${logPath}:${lineNo + 1}: log line is not JSON (${e.message})`);
      continue;
    }
    const method = String(rec.method || "").toUpperCase();
    const path = String(rec.path || "").split("?")[0];
    const status = String(rec.status);
    rec.method = method;
    const headers = headerMap(rec.headers);
    const tpl = matchPath(path);
    let why;
    let where;
    if (!tpl) {
      where = "unknown route";
      why =
        status !== "404"
          ? `an unknown route must answer 404, got ${status}`
          : checkResponse("#NotFound", deref(doc, errorResponses.NotFound), rec, headers);
    } else {
      // HEAD on a GET route: the GET's status and headers, no body (the router maps it).
      const head = method === "HEAD" && !doc.paths[tpl].head;
      const op = doc.paths[tpl][head ? "get" : method.toLowerCase()];
      if (head) rec.body = null;
      if (!op) {
        where = `${tpl} (no ${method})`;
        why =
          status !== "405"
            ? `a method the path lacks must answer 405, got ${status}`
            : checkResponse("#MethodNotAllowed", deref(doc, errorResponses.MethodNotAllowed), rec, headers);
      } else {
        where = `${method} ${tpl}`;
        exercised.add(`${method} ${tpl} ${status}`);
        const responses = op.responses || {};
        const resp = responses[status] ?? responses[`${status[0]}XX`] ?? responses.default;
        why = resp
          ? checkResponse(`${method} ${tpl} ${status}`, deref(doc, resp), rec, headers)
          : `status ${status} is not documented (documented: ${Object.keys(responses).join(", ")})`;
      }
    }
    if (why) fail(rec, where, why);
    else passed++;
  }
}

for (const f of failures.slice(0, MAX_FAILURES_SHOWN)) console.log(`FAIL ${f}`);
if (failures.length > MAX_FAILURES_SHOWN) {
  console.log(`... and ${failures.length - MAX_FAILURES_SHOWN} more failures`);
}
for (const n of [...new Set(notes)]) console.log(`note: ${n}`);
if (process.env.CONTRACT_COVERAGE) {
  // Which documented (operation, status) pairs no test produced: a to-do list for tests.
  for (const { path, method, op } of operations(doc)) {
    for (const st of Object.keys(op.responses || {})) {
      if (!exercised.has(`${method} ${path} ${st}`)) console.log(`not exercised: ${method} ${path} ${st}`);
    }
  }
}
if (passed + failures.length === 0) {
  console.log("contract: no responses in the log (did the API tests run with LMSERVE_CONTRACT_LOG?)");
  console.log("contract: 0 passed, 1 failed");
  process.exit(1);
}
console.log(`contract: ${passed} passed, ${failures.length} failed`);
process.exit(failures.length ? 1 : 0);
