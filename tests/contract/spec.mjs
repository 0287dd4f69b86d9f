// spec.mjs: loads api.yaml and compiles its schemas with Ajv (JSON Schema 2020-12), shared by
// validate.mjs (responses against the contract) and lint.mjs (the contract itself).
import { readFileSync } from "node:fs";
import YAML from "yaml";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

export const HTTP_METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const SCHEMAS_ID = "urn:lmserve:api";
// OpenAPI's own schema keywords that are not JSON Schema 2020-12 vocabulary.
const OPENAPI_KEYWORDS = ["example", "discriminator", "xml", "externalDocs"];

// Parse 'path' strictly: YAML errors and warnings (duplicate keys included) are fatal.
// Returns { doc } or { errors: [string] }.
export function loadSpec(path) {
  let text;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    return { errors: [`${path}: ${e.message}`] };
  }
  const parsed = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  const problems = [...parsed.errors, ...parsed.warnings].map(
    (e) => `${path}: ${e.message.split("\n")[0]}`,
  );
  if (problems.length) return { errors: problems };
  return { doc: parsed.toJS({ maxAliasCount: -1 }), text };
}

// Follow a local "#/a/b" JSON pointer inside 'doc'; undefined when it does not resolve.
export function resolvePointer(doc, ref) {
  if (typeof ref !== "string" || !ref.startsWith("#")) return undefined;
  let cur = doc;
  for (const raw of ref.slice(1).split("/").slice(1)) {
    const key = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
    if (cur === null || typeof cur !== "object" || !(key in cur)) return undefined;
    cur = cur[key];
  }
  return cur;
}

// An object that may be a {$ref} (responses, parameters, headers): follow it (a few levels).
export function deref(doc, obj) {
  for (let i = 0; i < 8 && obj && typeof obj === "object" && "$ref" in obj; i++) {
    obj = resolvePointer(doc, obj.$ref);
  }
  return obj;
}

// Deep copy of a schema for Ajv: drop x-* extensions, point "#/components/schemas/X" at the
// registered schemas document (its $defs).
function toAjv(node) {
  if (Array.isArray(node)) return node.map(toAjv);
  if (node === null || typeof node !== "object") return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) {
    if (k.startsWith("x-")) continue;
    if (k === "$ref" && typeof v === "string" && v.startsWith("#/components/schemas/")) {
      out.$ref = SCHEMAS_ID + "#/$defs/" + v.slice("#/components/schemas/".length);
    } else {
      out[k] = toAjv(v);
    }
  }
  return out;
}

// An Ajv instance holding every components.schemas entry; strict so typos in keywords fail.
export function makeAjv(doc) {
  const ajv = new Ajv2020({
    strict: true,
    strictRequired: false,
    allowUnionTypes: true,
    allErrors: true,
    validateFormats: true,
  });
  addFormats(ajv);
  for (const k of OPENAPI_KEYWORDS) ajv.addKeyword({ keyword: k, schemaType: [] });
  const schemas = (doc.components && doc.components.schemas) || {};
  ajv.addSchema({ $id: SCHEMAS_ID, $defs: toAjv(schemas) });
  return ajv;
}

// Compile one schema (inline or a $ref into components) from the spec.
export function compileSchema(ajv, schema) {
  return ajv.compile(toAjv(schema));
}

// Every operation: [{ path, method, op }] (path-level parameters ignored here).
export function operations(doc) {
  const out = [];
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const method of HTTP_METHODS) {
      if (item && item[method]) out.push({ path, method: method.toUpperCase(), op: item[method] });
    }
  }
  return out;
}

// Compile path templates: literal paths win over templated ones (/v1/models before {id}).
export function pathMatcher(doc) {
  // A path item with `x-wildcard: true` lets its last parameter take the rest of the path
  // (slashes included), as the router's {name*} does.
  const entries = Object.keys(doc.paths || {}).map((tpl) => {
    const wildcard = Boolean(doc.paths[tpl] && doc.paths[tpl]["x-wildcard"]);
    const nParams = (tpl.match(/\{[^}]+\}/g) || []).length;
    const names = [];
    const re = new RegExp(
      "^" +
        tpl
          .split("/")
          .map((seg) =>
            seg.replace(/\{([^}]+)\}|([^{]+)/g, (m, name, lit) => {
              if (name) {
                names.push(name);
                return wildcard && names.length === nParams ? "(.+)" : "([^/]+)";
              }
              return lit.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
            }),
          )
          .join("/") +
        "$",
    );
    return { tpl, re, templated: names.length > 0 };
  });
  entries.sort((a, b) => Number(a.templated) - Number(b.templated));
  return (path) => {
    for (const e of entries) if (e.re.test(path)) return e.tpl;
    return null;
  };
}

// "Application/JSON; charset=utf-8" -> "application/json".
export function mediaType(ct) {
  return String(ct || "").split(";")[0].trim().toLowerCase();
}

// Ajv errors as one readable line.
export function ajvErrors(errors) {
  return (errors || [])
    .slice(0, 6)
    .map((e) => {
      const where = e.instancePath || "(root)";
      const extra =
        e.keyword === "additionalProperties"
          ? ` '${e.params.additionalProperty}'`
          : e.keyword === "enum" || e.keyword === "const"
            ? ` ${JSON.stringify(e.params.allowedValues ?? e.params.allowedValue)}`
            : "";
      return `${where} ${e.message}${extra}`;
    })
    .join("; ");
}
