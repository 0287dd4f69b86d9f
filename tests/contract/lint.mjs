#!/usr/bin/env node
// lint.mjs api.yaml: checks the contract itself; exits 1 on any error.
//  1. strict YAML (no duplicate keys);
//  2. OpenAPI 3.1 validity against the official 3.1 schema (@seriousme/openapi-schema-validator);
//  3. every local $ref resolves;
//  4. every schema compiles with Ajv's JSON Schema 2020-12 in strict mode (a typo such as
//     `additionalproperty` is an error), and every example validates against its schema;
//  5. lmserve's own rules: unique operationIds; X-Request-Id on every response; Retry-After
//     on every 503/429; every 4xx/5xx JSON response is the Error object (except /ready's 503,
//     which is the readiness report, and /v2/..., whose errors are V2Error); every POST with a JSON body documents 400, 413, 415;
//     every operation documents 500; each schema is used; the path/method layout is the one
//     tools/check_routes.py reads without a YAML library (compared when python3 exists).
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { dirname, resolve } from "node:path";
import { Validator } from "@seriousme/openapi-schema-validator";
import {
  loadSpec,
  makeAjv,
  compileSchema,
  deref,
  resolvePointer,
  operations,
  mediaType,
  ajvErrors,
} from "./spec.mjs";

const specPath = process.argv[2];
if (!specPath) {
  console.error("usage: node lint.mjs api.yaml");
  process.exit(2);
}
const errors = [];
const warnings = [];

const loaded = loadSpec(specPath);
if (loaded.errors) {
  for (const e of loaded.errors) console.log(`ERROR ${e}`);
  console.log(`lint: 0 passed, ${loaded.errors.length} failed`);
  process.exit(1);
}
const doc = loaded.doc;

// 2. OpenAPI 3.1 schema validity.
const validator = new Validator();
const res = await validator.validate(doc);
if (!res.valid) {
  const list = Array.isArray(res.errors) ? res.errors : [res.errors];
  for (const e of list.slice(0, 20)) {
    errors.push(`openapi: ${typeof e === "string" ? e : `${e.instancePath || "(root)"} ${e.message} ${JSON.stringify(e.params || {})}`}`);
  }
}
if (!String(doc.openapi || "").startsWith("3.1")) errors.push(`openapi: version ${doc.openapi}, want 3.1.x`);
if (doc.jsonSchemaDialect !== "https://json-schema.org/draft/2020-12/schema") {
  errors.push("jsonSchemaDialect must be https://json-schema.org/draft/2020-12/schema");
}

// 3. Local $refs resolve; remember which component schemas are used.
const usedSchemas = new Set();
(function walk(node, where) {
  if (Array.isArray(node)) return node.forEach((v, i) => walk(v, `${where}/${i}`));
  if (node === null || typeof node !== "object") return;
  for (const [k, v] of Object.entries(node)) {
    if (k === "$ref" && typeof v === "string") {
      if (!v.startsWith("#")) errors.push(`${where}: external $ref ${v} (keep the contract in one file)`);
      else if (resolvePointer(doc, v) === undefined) errors.push(`${where}: $ref ${v} does not resolve`);
      const m = v.match(/^#\/components\/schemas\/([^/]+)$/);
      const self = `#/components/schemas/${m?.[1]}`;
      if (m && where !== self && !where.startsWith(`${self}/`)) usedSchemas.add(m[1]);
    } else {
      walk(v, `${where}/${k.replace(/~/g, "~0").replace(/\//g, "~1")}`);
    }
  }
})(doc, "#");
for (const name of Object.keys(doc.components?.schemas || {})) {
  if (!usedSchemas.has(name)) warnings.push(`schema ${name} is never referenced`);
}

// 4. Schemas compile in strict 2020-12 mode; examples validate.
let ajv = null;
try {
  ajv = makeAjv(doc);
  for (const name of Object.keys(doc.components?.schemas || {})) {
    try {
      compileSchema(ajv, { $ref: `#/components/schemas/${name}` });
    } catch (e) {
      errors.push(`schema ${name}: ${e.message}`);
    }
  }
} catch (e) {
  errors.push(`schemas: ${e.message}`);
}
function checkMedia(where, content) {
  for (const [mt, obj] of Object.entries(content || {})) {
    if (!ajv || !obj) continue;
    for (const [key, schema] of [["schema", obj.schema], ["x-sse-data", obj["x-sse-data"]]]) {
      if (!schema) continue;
      // A bare $ref to a component was compiled (and reported) above.
      const bare = Object.keys(schema).length === 1 && /^#\/components\/schemas\//.test(schema.$ref ?? "");
      let v;
      try {
        v = compileSchema(ajv, schema);
      } catch (e) {
        if (!bare) errors.push(`${where} ${mt} ${key}: ${e.message}`);
        continue;
      }
      if (key === "schema" && "example" in obj && !v(obj.example)) {
        errors.push(`${where} ${mt} example: ${ajvErrors(v.errors)}`);
      }
    }
  }
}

// 5. lmserve's rules.
const opIds = new Map();
for (const { path, method, op } of operations(doc)) {
  const where = `${method} ${path}`;
  if (!op.operationId) errors.push(`${where}: no operationId`);
  else if (opIds.has(op.operationId)) errors.push(`${where}: operationId ${op.operationId} also used by ${opIds.get(op.operationId)}`);
  else opIds.set(op.operationId, where);
  if (!op.summary) warnings.push(`${where}: no summary`);
  const rb = deref(doc, op.requestBody);
  if (rb) checkMedia(`${where} requestBody`, rb.content);
  const responses = op.responses || {};
  if (Object.keys(responses).length === 0) errors.push(`${where}: no responses`);
  if (method !== "OPTIONS" && !responses["500"]) errors.push(`${where}: 500 not documented`);
  if (rb && rb.content && rb.content["application/json"]) {
    for (const st of ["400", "413", "415"]) {
      if (!responses[st]) errors.push(`${where}: takes a JSON body but does not document ${st}`);
    }
  }
  if (op.security && op.security.length) {
    for (const st of ["401", "403"]) if (!responses[st]) errors.push(`${where}: admin route without ${st}`);
  }
  if (/\{[^}]+\}/.test(path) && method !== "OPTIONS" && !responses["404"]) {
    errors.push(`${where}: path parameter but no 404`);
  }
  for (const [st, r0] of Object.entries(responses)) {
    const r = deref(doc, r0);
    if (!r) continue; // reported by the $ref walk
    const hdrs = Object.fromEntries(
      Object.entries(r.headers || {}).map(([k, v]) => [k.toLowerCase(), deref(doc, v)]),
    );
    if (!hdrs["x-request-id"] || !hdrs["x-request-id"].required) {
      errors.push(`${where} ${st}: X-Request-Id header not documented as required`);
    }
    if ((st === "503" || st === "429") && !(hdrs["retry-after"] && hdrs["retry-after"].required)) {
      errors.push(`${where} ${st}: Retry-After header not documented as required`);
    }
    checkMedia(`${where} ${st}`, r.content);
    const isError = /^[45]/.test(st);
    const readiness = path === "/ready" && st === "503";
    // The KServe V2 routes answer errors in that protocol's {"error": "..."} (V2Error).
    const errorSchema = path.startsWith("/v2") ? "#/components/schemas/V2Error" : "#/components/schemas/Error";
    if (isError && !readiness) {
      const json = Object.entries(r.content || {}).find(([k]) => mediaType(k) === "application/json");
      if (!json || json[1].schema?.$ref !== errorSchema) {
        errors.push(`${where} ${st}: error response is not the Error object`);
      }
    }
  }
}
for (const name of ["NotFound", "MethodNotAllowed"]) {
  if (!doc.components?.responses?.[name]) errors.push(`components.responses.${name} missing (validate.mjs uses it)`);
}
for (const [name, r] of Object.entries(doc.components?.responses || {})) {
  if (!usedResponse(name) && !["NotFound", "MethodNotAllowed"].includes(name)) {
    warnings.push(`response ${name} is never referenced`);
  }
}
function usedResponse(name) {
  return loaded.text.includes(`'#/components/responses/${name}'`) || loaded.text.includes(`"#/components/responses/${name}"`);
}

// The layout check_routes.py relies on: its reading of paths/methods equals the YAML's.
const here = dirname(fileURLToPath(import.meta.url));
const checker = resolve(here, "../../tools/check_routes.py");
const py = spawnSync("python3", [checker, "--list-api", specPath], { encoding: "utf8" });
if (py.error || py.status === null) {
  warnings.push(`python3 not run (${py.error?.message ?? "killed"}): layout check skipped`);
} else if (py.status !== 0) {
  errors.push(`check_routes.py --list-api failed: ${py.stderr.trim()}`);
} else {
  const simple = py.stdout.split("\n").filter(Boolean).sort();
  const real = operations(doc)
    .filter((o) => o.method !== "OPTIONS")
    .map((o) => `${o.method} ${o.path}`)
    .sort();
  const a = new Set(simple);
  const b = new Set(real);
  for (const r of real) if (!a.has(r)) errors.push(`layout: check_routes.py does not see ${r} (keep paths at 2 spaces, methods at 4)`);
  for (const s of simple) if (!b.has(s)) errors.push(`layout: check_routes.py sees ${s}, which the YAML does not have`);
}

for (const w of warnings) console.log(`warning: ${w}`);
for (const e of errors) console.log(`ERROR ${e}`);
const nOps = operations(doc).length;
console.log(`${specPath}: ${nOps} operations, ${Object.keys(doc.components?.schemas || {}).length} schemas, ${errors.length} errors, ${warnings.length} warnings`);
console.log(`lint: ${errors.length ? 0 : 1} passed, ${errors.length ? 1 : 0} failed`);
process.exit(errors.length ? 1 : 0);
