// check.mjs: what CI can check of the container and Kubernetes files without a Docker engine:
// every YAML file parses, the Dockerfile builds with make all (no tests, no training) into a
// runtime-only stage with a shell-less healthcheck, and the
// compose file, nginx config and manifests agree on ports, probes, volumes and names.
// Run by tests/deploy/check.sh. Prints `deploy: N passed, M failed`.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const require = createRequire(path.join(ROOT, 'tests', 'web', 'package.json'));
const YAML = require('yaml');

const PORT = 8080;                                     // the container port everywhere
const RUNTIME_PACKAGES = ['libmicrohttpd12', 'libjansson4', 'zlib1g'];

let passed = 0, failed = 0, skipped = 0;
class Skip extends Error {}
function check(name, fn) {
  try { fn(); passed++; console.log(`ok   ${name}`); }
  catch (e) {
    if (e instanceof Skip) { skipped++; console.log(`skip ${name}: ${e.message}`); }
    else { failed++; console.log(`FAIL ${name}: ${e.message}`); }
  }
}
function assert(c, msg) { if (!c) throw new Error(msg); }
const read = (p) => fs.readFileSync(path.join(ROOT, p), 'utf8');
const exists = (p) => fs.existsSync(path.join(ROOT, p));

// ---- every YAML file parses ----
function yamlFiles() {
  let files;
  try {
    files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.yaml', '*.yml', '**/*.yaml', '**/*.yml'],
      { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);
  } catch {
    files = [];
    const walk = (d) => { for (const e of fs.readdirSync(path.join(ROOT, d), { withFileTypes: true })) {
      if (['.git', 'node_modules', 'build'].includes(e.name)) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p); else if (/\.ya?ml$/.test(e.name)) files.push(p);
    } };
    walk('.');
  }
  return [...new Set(files)].filter(f => !f.includes('node_modules/')).sort();
}
const docs = {};
for (const f of yamlFiles()) {
  check(`yaml parses: ${f}`, () => {
    const all = YAML.parseAllDocuments(read(f), { prettyErrors: true, merge: true });
    for (const d of all) {
      if (d.errors.length) throw new Error(d.errors.map(e => e.message).join('; '));
      if (d.warnings.length) throw new Error(d.warnings.map(e => e.message).join('; '));
    }
    docs[f] = all.map(d => d.toJS({ maxAliasCount: 100 }));
  });
}
const one = (f) => { assert(docs[f], `${f} missing or unparsable`); return docs[f][0]; };

// ---- Dockerfile ----
// Instructions with their continuation lines joined, comments dropped, per stage.
function dockerfile(text) {
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/).map(l => l.trim()).filter(l => l && !l.startsWith('#'));
  const stages = [];
  for (const l of lines) {
    const m = /^(\w+)\s+(.*)$/.exec(l);
    if (!m) continue;
    const [ins, arg] = [m[1].toUpperCase(), m[2]];
    if (ins === 'FROM') stages.push({ from: arg, ins: [] });
    else if (stages.length) stages.at(-1).ins.push({ ins, arg });
  }
  return stages;
}
const makeTargets = (cmd) => [...cmd.matchAll(/(?:^|&&|;|\|\|)\s*make\s+([^&;|]*)/g)].map(m => m[1].trim());

// ARG defaults declared before the first FROM (e.g. BASE_IMAGE), to resolve FROM ${X}.
function globalArgs(text) {
  const out = {};
  for (const l of text.split(/\r?\n/)) {
    if (/^\s*FROM\b/i.test(l)) break;
    const m = /^\s*ARG\s+(\w+)=(\S+)/i.exec(l);
    if (m) out[m[1]] = m[2];
  }
  return out;
}
const subst = (s, vars) => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => vars[a || b] ?? '');

check('Dockerfile: two stages on debian:bookworm-slim (docker/base-image.sh makes it when no registry answers)', () => {
  const text = read('docker/Dockerfile');
  const st = dockerfile(text);
  const args = globalArgs(text);
  assert(st.length === 2, `${st.length} stages`);
  for (const s of st) assert(/^debian:bookworm-slim(\s|$)/.test(subst(s.from, args)), `FROM ${s.from}`);
  assert(/\bAS\s+build\b/i.test(st[0].from), 'the first stage is not named build');
  const base = read('docker/base-image.sh');
  assert(base.includes('debian:bookworm-slim') && /debootstrap\s+--variant=minbase/.test(base), 'base-image.sh does not debootstrap the base');
  assert(/\/etc\/apt\/sources\.list/.test(base) && !/https?:\/\/[a-z0-9.-]+\.(org|com|net)/i.test(base), 'base-image.sh must read the mirror from /etc/apt/sources.list*, never name a host');
});
check('Dockerfile: the build stage installs the build packages and runs make all, never make test or trains models', () => {
  const [build] = dockerfile(read('docker/Dockerfile'));
  const runs = build.ins.filter(i => i.ins === 'RUN').map(i => i.arg);
  const got = runs.flatMap(makeTargets).map(t => t.split(/\s+/)[0]);
  assert(JSON.stringify(got) === JSON.stringify(['all']), `RUN make targets: ${JSON.stringify(got)}`);
  assert(runs.some(r => /\bsh tools\/deps\.sh build\b/.test(r)), 'the build stage does not run tools/deps.sh build');
  assert(!runs.some(r => /\b(models|train|torch|python3)\b/.test(r)), 'the build stage trains models');
  assert(build.ins.some(i => i.ins === 'ENV' && /\bCI=true\b/.test(i.arg)), 'the build stage does not set CI=true as CI does');
  const mk = [read('Makefile'), ...fs.readdirSync(path.join(ROOT, 'mk')).filter(f => f.endsWith('.mk')).map(f => read(`mk/${f}`))].join('\n');
  for (const t of ['all', 'image', 'test-image']) assert(new RegExp(`^${t}\\s*:`, 'm').test(mk), `no "${t}:" rule in Makefile or mk/*.mk`);
  if (exists('.ci/run')) assert(/\bmake\s+test-image\b/.test(read('.ci/run')), '.ci/run does not run make test-image');
});
check('Dockerfile: runtime stage has only runtime libraries, a non-root user, port, shell-less healthcheck, LMSERVE_* defaults, exec entrypoint', () => {
  const st = dockerfile(read('docker/Dockerfile'));
  const rt = st.at(-1).ins;
  const apt = rt.filter(i => i.ins === 'RUN' && /apt-get install/.test(i.arg));
  assert(apt.length === 1, `${apt.length} apt-get install lines in the runtime stage`);
  const pkgs = apt[0].arg.replace(/.*apt-get install/, '').split('&&')[0].split(/\s+/).filter(w => w && !w.startsWith('-'));
  assert(JSON.stringify(pkgs.sort()) === JSON.stringify([...RUNTIME_PACKAGES].sort()), `runtime packages ${pkgs}`);
  const user = rt.filter(i => i.ins === 'USER').at(-1);
  assert(user && !/^(root|0)(:|$)/.test(user.arg), `USER ${user?.arg}`);
  assert(rt.some(i => i.ins === 'EXPOSE' && i.arg.split(/\s+/).includes(String(PORT))), `no EXPOSE ${PORT}`);
  const hc = rt.find(i => i.ins === 'HEALTHCHECK');
  assert(hc, 'no HEALTHCHECK');
  const hcCmd = JSON.parse(hc.arg.replace(/^.*?\bCMD\s+/, ''));
  assert(/lmserve$/.test(hcCmd[0]) && hcCmd.includes('--healthcheck') && !hcCmd.some(a => /\b(sh|bash|curl|wget)\b/.test(a)) && !hcCmd.some(a => new RegExp(`\\b${PORT}\\b`).test(a)),
    `HEALTHCHECK ${hc.arg}: want lmserve --healthcheck, no shell, no hard-coded port`);
  const env = rt.filter(i => i.ins === 'ENV').map(i => i.arg).join(' ');
  const envOf = (k) => new RegExp(`\\b${k}=(\\S+)`).exec(env)?.[1];
  assert(envOf('LMSERVE_HOST') === '0.0.0.0', 'LMSERVE_HOST is not 0.0.0.0');
  assert(envOf('LMSERVE_PORT') === String(PORT), `LMSERVE_PORT is not ${PORT}`);
  assert((envOf('LMSERVE_CONFIG') || '').startsWith('/models/'), 'LMSERVE_CONFIG is not under /models');
  const ep = rt.find(i => i.ins === 'ENTRYPOINT');
  assert(ep, 'no ENTRYPOINT');
  const arr = JSON.parse(ep.arg); // exec form is a JSON array; shell form throws here
  assert(Array.isArray(arr) && /lmserve$/.test(arr[0]), `ENTRYPOINT ${ep.arg}`);
  assert(!arr.includes('--config') && !rt.some(i => i.ins === 'CMD'), 'settings in ENTRYPOINT/CMD: `docker run IMAGE --flag` would drop them (use LMSERVE_*)');
  const copies = rt.filter(i => i.ins === 'COPY').map(i => i.arg).join('\n');
  for (const want of ['bin/lmserve', '/web', '/models']) assert(copies.includes(want), `runtime stage does not copy ${want}`);
  assert(!/\b(gcc|make|build-essential|python3|torch)\b/.test(rt.filter(i => i.ins === 'RUN').map(i => i.arg).join(' ')), 'build tools in the runtime stage');
});
check('Dockerfile and .dockerignore: the image ships the files docker/models.json names, and nothing else of build/', () => {
  const cfg = JSON.parse(read('docker/models.json'));
  assert(Array.isArray(cfg.models) && cfg.models.length >= 3, 'fewer than 3 models');
  const types = new Set(cfg.models.map(m => m.type));
  for (const t of ['ngram', 'embedding', 'transformer']) assert(types.has(t), `no ${t} model`);
  const files = (m) => [m.path, ...(m.options?.tokenizer ? [m.options.tokenizer] : [])];
  const text = read('docker/Dockerfile');
  const rt = dockerfile(text).at(-1).ins;
  const modelsDir = /ARG\s+MODELS_DIR=(\S+)/.exec(text)?.[1];
  assert(modelsDir, 'no ARG MODELS_DIR=... default');
  const copies = rt.filter(i => i.ins === 'COPY' && !/--from/.test(i.arg)).map(i => i.arg.split(/\s+/));
  const ignore = read('.dockerignore').split('\n').map(l => l.trim()).filter(l => l && !l.startsWith('#'));
  for (const pat of ['.git', 'build', '**/node_modules']) assert(ignore.includes(pat), `.dockerignore lacks ${pat}`);
  // Each /models/DIR/FILE of docker/models.json is COPYed from a file of the context (the
  // build/ ones through ${MODELS_DIR}, let through by .dockerignore).
  const sources = {}; // '/models/DIR/FILE' -> repository path
  for (const c of copies) {
    const dst = c.at(-1);
    for (const src of c.slice(0, -1)) {
      sources[dst + path.posix.basename(src)] = src.replace('${MODELS_DIR}', modelsDir);
    }
  }
  for (const m of cfg.models) {
    for (const f of files(m)) {
      assert(f.startsWith('/models/'), `${m.id}: ${f} is not under /models`);
      const src = sources[f];
      assert(src, `${m.id}: the runtime stage does not COPY a file to ${f}`);
      if (src.startsWith('build/')) assert(ignore.includes(`!${src}`), `${m.id}: .dockerignore does not let ${src} through`);
      else assert(exists(src), `${m.id}: ${src} is not in the repository`);
    }
  }
  // The same models, files and options as `make run` serves (models/default.json, whose paths
  // are relative to that file).
  if (!exists('models/default.json')) throw new Skip('no models/default.json yet (the default models, issue 6)');
  const def = JSON.parse(read('models/default.json'));
  const norm = (m, mapPath) => JSON.stringify({ id: m.id, type: m.type, files: files(m).map(mapPath),
    options: Object.keys(m.options || {}).sort() });
  // default.json's paths are relative to models/; docker/models.json's are the image's.
  const fromDefault = (f) => path.posix.normalize(path.posix.join('models', f));
  assert(JSON.stringify(def.models.map(m => norm(m, fromDefault))) === JSON.stringify(cfg.models.map(m => norm(m, f => sources[f]))),
    `docker/models.json differs from models/default.json:\n  ${def.models.map(m => norm(m, fromDefault)).join('\n  ')}\nvs\n  ${cfg.models.map(m => norm(m, f => f)).join('\n  ')}`);
});

check('Dockerfile: the runtime packages cover every library the built lmserve links', () => {
  const bin = path.resolve(ROOT, process.env.BUILD || 'build', 'bin', 'lmserve');
  if (!fs.existsSync(bin)) throw new Skip(`no ${bin} (make all first)`);
  const r = spawnSync('readelf', ['-d', bin], { encoding: 'utf8' });
  if (r.status !== 0) throw new Skip('readelf not available');
  const needed = [...r.stdout.matchAll(/\(NEEDED\).*\[(.+)\]/g)].map(m => m[1]);
  // soname -> the Debian package of the runtime stage that ships it (libc6 is in every image).
  const BY_SONAME = { 'libmicrohttpd.so.12': 'libmicrohttpd12', 'libjansson.so.4': 'libjansson4', 'libz.so.1': 'zlib1g' };
  const libc = /^(libc|libm|libpthread|libdl|librt|ld-linux[-\w]*)\.so/;
  const missing = needed.filter(n => !libc.test(n) && !RUNTIME_PACKAGES.includes(BY_SONAME[n]));
  assert(needed.length > 0, 'no NEEDED entries read');
  assert(missing.length === 0, `lmserve needs ${missing.join(', ')}, which the runtime stage does not install`);
});

// ---- compose and nginx ----
check('compose: lmserve service with port, models volume at /models and a /health healthcheck', () => {
  const c = one('docker/compose.yaml');
  const s = c.services?.lmserve;
  assert(s, 'no lmserve service');
  assert(!s.profiles, 'the main service is behind a profile');
  assert((s.ports || []).some(p => String(p).endsWith(`:${PORT}`) || p.target === PORT), `ports ${JSON.stringify(s.ports)}`);
  const vols = (s.volumes || []).map(String);
  assert(vols.some(v => /^models:\/models(:ro)?$/.test(v)), `volumes ${vols}`);
  assert(c.volumes && 'models' in c.volumes, 'the models volume is not declared');
  const hc = s.healthcheck?.test?.join(' ') ?? '';
  assert(/lmserve --healthcheck/.test(hc) && !/\b(bash|sh|curl)\b/.test(hc), `healthcheck ${hc}: want lmserve --healthcheck`);
  assert(!('name' in c), 'top-level name: Compose v1 (Debian\'s docker-compose 1.29) rejects it; use -p');
  const bind = (p) => String(p).replace(/\$\{[^:}]+:-([^}]*)\}/g, '$1');
  assert((s.ports || []).every(p => bind(p).startsWith('127.0.0.1:')), `ports ${JSON.stringify(s.ports)} are not on 127.0.0.1 by default`);
  assert(s.build?.dockerfile === 'docker/Dockerfile' && s.build?.context === '..', 'build does not use docker/Dockerfile from the repository root');
});
check('compose: profile "replicas" runs 3 replicas behind nginx with docker/nginx.conf', () => {
  const c = one('docker/compose.yaml');
  const reps = Object.entries(c.services).filter(([, s]) => s.profiles?.includes('replicas'));
  const replica = reps.find(([, s]) => s.deploy?.replicas === 3);
  assert(replica, 'no service with deploy.replicas: 3 in profile replicas');
  assert(!replica[1].ports, 'replicas publish host ports (they would clash)');
  assert((replica[1].volumes || []).map(String).some(v => /^models:\/models:ro$/.test(v)), 'replicas do not mount the models read-only');
  const lb = reps.find(([, s]) => /nginx/.test(s.image || '') || /nginx/.test(s.build?.dockerfile || ''));
  assert(lb, 'no nginx service in profile replicas');
  assert((lb[1].volumes || []).map(String).some(v => v.startsWith('./nginx.conf:')), 'nginx does not mount ./nginx.conf');
  const conf = read('docker/nginx.conf');
  assert(new RegExp(`server\\s+${replica[0]}:${PORT}\\b`).test(conf), `nginx upstream is not ${replica[0]}:${PORT}`);
  const listen = /listen\s+(\d+)/.exec(conf)?.[1];
  assert((lb[1].ports || []).some(p => String(p).endsWith(`:${listen}`)), `nginx listens on ${listen}, compose maps ${lb[1].ports}`);
  assert(lb[1].build?.dockerfile === 'nginx.Dockerfile' && exists('docker/nginx.Dockerfile'), 'nginx is not built locally from docker/nginx.Dockerfile (no registry needed)');
  assert(/apt-get install[^&]*\bnginx/.test(read('docker/nginx.Dockerfile')), "nginx.Dockerfile does not install Debian's nginx");
  assert(/proxy_buffering\s+off/.test(conf), 'nginx buffers SSE streams');
});
check('nginx.conf: nginx -t accepts it', () => {
  const nginx = ['/usr/sbin/nginx', '/usr/bin/nginx'].find(p => fs.existsSync(p));
  if (!nginx) { console.log('     (nginx absent: syntax check skipped)'); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lmserve-nginx-'));
  // The compose service name does not resolve here: test a copy pointing at loopback.
  const conf = read('docker/nginx.conf').replace(/server\s+\S+:(\d+)/, 'server 127.0.0.1:$1')
    .replace(/^(\s*access_log)\s+\S+;/m, `$1 ${dir}/access.log;`).replace(/^(\s*error_log)\s+\S+/m, `$1 ${dir}/error.log`);
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `pid ${dir}/nginx.pid;\n` + conf);
  const r = spawnSync(nginx, ['-t', '-q', '-p', dir, '-e', `${dir}/error.log`, '-c', path.join(dir, 'nginx.conf')], { encoding: 'utf8' });
  fs.rmSync(dir, { recursive: true, force: true });
  assert(r.status === 0, `nginx -t: ${r.stderr}`);
});

// ---- Kubernetes ----
const k8s = () => {
  const all = Object.entries(docs).filter(([f]) => f.startsWith('deploy/k8s/')).flatMap(([f, ds]) => ds.map(d => ({ f, d })));
  const get = (kind) => all.filter(x => x.d?.kind === kind).map(x => x.d);
  return { all, get };
};
check('k8s: Deployment with port, /ready readiness, /health liveness, resources, read-only models, ConfigMap config', () => {
  const { get } = k8s();
  const [dep] = get('Deployment');
  assert(dep, 'no Deployment');
  const pod = dep.spec.template.spec;
  const c = pod.containers.find(x => x.name === 'lmserve') || pod.containers[0];
  const port = c.ports.find(p => p.containerPort === PORT);
  assert(port, `no containerPort ${PORT}`);
  const probePort = (pr) => pr.httpGet.port === port.name || pr.httpGet.port === PORT;
  assert(c.readinessProbe?.httpGet?.path === '/ready' && probePort(c.readinessProbe), 'readiness probe is not /ready on the port');
  assert(c.livenessProbe?.httpGet?.path === '/health' && probePort(c.livenessProbe), 'liveness probe is not /health on the port');
  for (const k of ['cpu', 'memory']) {
    assert(c.resources?.requests?.[k] && c.resources?.limits?.[k], `resources ${k} request/limit missing`);
  }
  const labels = dep.spec.template.metadata.labels;
  for (const [k, v] of Object.entries(dep.spec.selector.matchLabels)) assert(labels[k] === v, `selector ${k} does not match the pod labels`);
  const mounts = Object.fromEntries(c.volumeMounts.map(m => [m.mountPath, m]));
  assert(mounts['/models']?.readOnly === true, 'models not mounted read-only at /models');
  const vol = (name) => pod.volumes.find(v => v.name === name);
  const mv = vol(mounts['/models'].name);
  assert(mv?.persistentVolumeClaim?.readOnly === true, 'models volume is not a read-only claim');
  const cfgMount = c.volumeMounts.find(m => vol(m.name)?.configMap);
  assert(cfgMount, 'no ConfigMap volume');
  const cmName = vol(cfgMount.name).configMap.name;
  const cm = get('ConfigMap').find(x => x.metadata.name === cmName);
  assert(cm, `ConfigMap ${cmName} is not defined`);
  const key = Object.keys(cm.data)[0];
  const args = c.args.join(' ');
  assert(args.includes(`--config ${cfgMount.mountPath}/${key}`), `args do not read ${cfgMount.mountPath}/${key}`);
  const cfg = JSON.parse(cm.data[key]);
  for (const m of cfg.models) assert(m.path.startsWith('/models/'), `${m.id}: ${m.path} outside the models volume`);
  assert(JSON.stringify(cfg) === JSON.stringify(JSON.parse(read('docker/models.json'))), 'the ConfigMap config differs from docker/models.json');
  const pvc = get('PersistentVolumeClaim').find(x => x.metadata.name === mv.persistentVolumeClaim.claimName);
  assert(pvc, `claim ${mv.persistentVolumeClaim.claimName} is not defined`);
  assert(pod.securityContext?.runAsNonRoot === true, 'pods may run as root');
});
check('k8s: Service targets the container port and selects the pods', () => {
  const { get } = k8s();
  const [svc] = get('Service');
  const [dep] = get('Deployment');
  assert(svc, 'no Service');
  const c = dep.spec.template.spec.containers[0];
  const port = c.ports.find(p => p.containerPort === PORT);
  assert(svc.spec.ports.some(p => p.targetPort === port.name || p.targetPort === PORT), 'targetPort is not the container port');
  for (const [k, v] of Object.entries(svc.spec.selector)) assert(dep.spec.template.metadata.labels[k] === v, `selector ${k}=${v} matches no pod`);
});
check('k8s: HorizontalPodAutoscaler scales the Deployment', () => {
  const { get } = k8s();
  const [hpa] = get('HorizontalPodAutoscaler');
  const [dep] = get('Deployment');
  assert(hpa, 'no HorizontalPodAutoscaler');
  assert(hpa.apiVersion === 'autoscaling/v2', hpa.apiVersion);
  assert(hpa.spec.scaleTargetRef.kind === 'Deployment' && hpa.spec.scaleTargetRef.name === dep.metadata.name, 'scaleTargetRef');
  assert(hpa.spec.minReplicas >= 1 && hpa.spec.maxReplicas > hpa.spec.minReplicas, 'replica bounds');
  assert(hpa.spec.metrics?.length, 'no metrics');
});
check('k8s: kustomization lists every manifest', () => {
  const k = one('deploy/k8s/kustomization.yaml');
  const files = fs.readdirSync(path.join(ROOT, 'deploy/k8s')).filter(f => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml').sort();
  assert(JSON.stringify([...k.resources].sort()) === JSON.stringify(files), `resources ${k.resources} vs files ${files}`);
});

// ---- schemas: Kubernetes (kubernetes-models) and KServe (the CRDs' openAPIV3Schema) ----
// tests/deploy/package.json's packages (installed by check.sh). kubernetes-models validates
// types, required fields and enums of every built-in kind; the KServe CRD schemas (test data in
// tests/deploy/crds/, source in its README) are checked with Ajv, strictly: unknown fields
// are errors (as `kubectl apply --validate=strict`), except where the CRD preserves them.
const DEPLOY_MODULES = path.join(ROOT, 'tests', 'deploy', 'node_modules');
const k8sModels = async (apiVersion) => {
  const dir = apiVersion.includes('/') ? apiVersion : apiVersion; // "apps/v1", "v1"
  return import(path.join(DEPLOY_MODULES, 'kubernetes-models', dir, 'index.js'));
};
const manifests = Object.entries(docs).filter(([f]) => /^deploy\/(k8s|kserve)\/.*\.ya?ml$/.test(f) && !/kustomization\.ya?ml$/.test(f))
  .flatMap(([f, ds]) => ds.filter(Boolean).map(d => ({ f, d })));
const kserveSchemas = {};
let Ajv = null;
try {
  Ajv = (await import(path.join(DEPLOY_MODULES, 'ajv', 'dist', '2019.js'))).default;
  const zlib = await import('node:zlib');
  for (const f of fs.readdirSync(path.join(HERE, 'crds')).filter(x => x.endsWith('.schema.json.gz'))) {
    const crd = JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(HERE, 'crds', f))).toString('utf8'));
    kserveSchemas[`${crd.group}/${crd.version}/${crd.kind}`] = crd.openAPIV3Schema;
  }
} catch (e) { console.log(`     (KServe schemas unavailable: ${e.message})`); }

// OpenAPI v3 (Kubernetes structural schema) -> JSON Schema for Ajv: unknown fields are errors
// unless x-kubernetes-preserve-unknown-fields; int-or-string and nullable as Kubernetes means them.
function strictSchema(node) {
  if (Array.isArray(node)) return node.map(strictSchema);
  if (!node || typeof node !== 'object') return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) {
    if (k.startsWith('x-kubernetes-') || k === 'nullable' || k === 'format') continue;
    out[k] = strictSchema(v);
  }
  if (node['x-kubernetes-int-or-string']) { delete out.type; out.anyOf = [{ type: 'integer' }, { type: 'string' }]; }
  if (node.nullable && out.type) out.type = [out.type, 'null'];
  if (out.properties && !('additionalProperties' in out) && !node['x-kubernetes-preserve-unknown-fields']) out.additionalProperties = false;
  return out;
}
const kserveValidators = {};
function kserveValidate(d) {
  const [group, version] = d.apiVersion.split('/');
  const key = `${group}/${version}/${d.kind}`;
  if (!kserveSchemas[key]) throw new Error(`no schema for ${key} in tests/deploy/crds/`);
  if (!kserveValidators[key]) {
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    kserveValidators[key] = ajv.compile(strictSchema(kserveSchemas[key]));
  }
  const v = kserveValidators[key];
  if (!v(d)) throw new Error(v.errors.slice(0, 5).map(e => `${e.instancePath || '/'} ${e.message}${e.params?.additionalProperty ? ` (${e.params.additionalProperty})` : ''}`).join('; '));
}
// kubernetes-models' validators check types, required fields and enums but let unknown fields
// through (its schemas are compiled without additionalProperties:false). Strict mode, as
// `kubectl apply --validate=strict` does: walk the manifest along the package's generated type
// declarations (one .d.ts per schema definition, the same OpenAPI source) and refuse any field
// the definition does not declare. Maps ({[key: string]: ...}) and scalars end the walk.
const dtsCache = new Map();
function dtsInterface(file) {
  if (dtsCache.has(file)) return dtsCache.get(file);
  let info = null;
  if (fs.existsSync(file)) {
    const text = fs.readFileSync(file, 'utf8');
    const imports = {};
    for (const m of text.matchAll(/^import \{ (\w+) \} from "([^"]+)";$/gm)) imports[m[1]] = m[2];
    const body = /^export interface I\w+(?: extends [^{]+)? \{\n([\s\S]*?)^\}/m.exec(text);
    if (body) {
      const props = {};
      for (const m of body[1].matchAll(/^ {4}"([^"]+)"\??: (.*)$/gm)) {
        const t = /^(?:Array<)?(I\w+)>?;$/.exec(m[2]);
        const spec = t && imports[t[1]];
        let target = null;
        if (spec) {
          target = spec.startsWith('.') ? path.resolve(path.dirname(file), spec.replace(/\.js$/, '.d.ts'))
            : path.join(DEPLOY_MODULES, spec.replace(/\.js$/, '') + '.d.ts');
        }
        props[m[1]] = target;
      }
      info = props;
    }
  }
  dtsCache.set(file, info);
  return info;
}
function strictFields(data, file, at, errors) {
  const props = dtsInterface(file);
  if (!props) return; // a type alias (Quantity, IntOrString, Time): nothing to walk
  if (Array.isArray(data)) { data.forEach((x, i) => strictFields(x, file, `${at}/${i}`, errors)); return; }
  if (!data || typeof data !== 'object') return;
  for (const [k, v] of Object.entries(data)) {
    if (!(k in props)) { errors.push(`${at || '/'}: unknown field "${k}"`); continue; }
    if (props[k]) strictFields(v, props[k], `${at}/${k}`, errors);
  }
}
async function k8sValidate(d) {
  const mod = await k8sModels(d.apiVersion);
  const Kind = mod[d.kind];
  if (!Kind) throw new Error(`kubernetes-models has no ${d.apiVersion} ${d.kind}`);
  new Kind(d).validate(); // throws with the schema errors
  const decl = path.join(DEPLOY_MODULES, 'kubernetes-models', d.apiVersion, `${d.kind}.d.ts`);
  if (!dtsInterface(decl)) throw new Error(`no type declaration ${decl} for strict field checking`);
  const errors = [];
  strictFields(d, decl, '', errors);
  if (errors.length) throw new Error(errors.slice(0, 5).join('; '));
}
const validateOne = async (d) => (d.apiVersion.startsWith('serving.kserve.io/') ? kserveValidate(d) : k8sValidate(d));
async function acheck(name, fn) {
  try { await fn(); passed++; console.log(`ok   ${name}`); }
  catch (e) {
    if (e instanceof Skip) { skipped++; console.log(`skip ${name}: ${e.message}`); }
    else { failed++; console.log(`FAIL ${name}: ${e.message}`); }
  }
}
const haveModules = fs.existsSync(path.join(DEPLOY_MODULES, 'kubernetes-models')) && Ajv;
for (const { f, d } of manifests) {
  await acheck(`schema: ${f} ${d.kind} ${d.metadata?.name} (${d.apiVersion})`, async () => {
    if (!haveModules) throw new Error('tests/deploy/node_modules missing (npm ci --prefix tests/deploy)');
    await validateOne(d);
  });
}
// The validators must refuse broken manifests, or the checks above prove nothing.
await acheck('schema: broken manifests are refused (self-test)', async () => {
  if (!haveModules) throw new Error('tests/deploy/node_modules missing');
  const clone = (x) => JSON.parse(JSON.stringify(x));
  const find = (kind) => manifests.find(m => m.d.kind === kind)?.d;
  const cases = [];
  const dep = find('Deployment');
  if (dep) {
    const a = clone(dep); a.spec.replicas = 'two'; cases.push(['Deployment replicas "two"', a]);
    const b = clone(dep); delete b.spec.template.spec.containers[0].readinessProbe.httpGet.port; cases.push(['Deployment probe without port', b]);
    // Unknown fields on built-in kinds, at the top, deep in the pod template and in a list.
    const c = clone(dep); c.spec.replicaz = 2; cases.push(['Deployment unknown field spec.replicaz', c, 'replicaz']);
    const e = clone(dep); e.spec.template.spec.containers[0].readinessProbe.httpGet.paht = '/ready'; cases.push(['Deployment unknown field httpGet.paht', e, 'paht']);
    const g = clone(dep); g.spec.template.spec.containers[0].volumeMounts[0].readonly = true; cases.push(['Deployment unknown field volumeMounts[0].readonly', g, 'readonly']);
  }
  const svc = find('Service');
  if (svc) { const a = clone(svc); a.spec.ports[0].targetport = 8080; cases.push(['Service unknown field ports[0].targetport', a, 'targetport']); }
  const hpa = find('HorizontalPodAutoscaler');
  if (hpa) { const a = clone(hpa); a.spec.metrics[0].type = 7; cases.push(['HPA metric type 7', a]); }
  const sr = find('ServingRuntime');
  if (sr) {
    const a = clone(sr); a.spec.containers[0].portz = []; cases.push(['ServingRuntime unknown field portz', a]);
    const b = clone(sr); b.spec.supportedModelFormats = 'lmserve'; cases.push(['ServingRuntime formats not a list', b]);
  }
  const isvc = find('InferenceService');
  if (isvc) {
    const a = clone(isvc); a.spec.predictor.minReplicas = 'two'; cases.push(['InferenceService minReplicas "two"', a]);
    const b = clone(isvc); b.spec.predictor.model.storageURI = b.spec.predictor.model.storageUri; cases.push(['InferenceService misspelt storageURI', b]);
  }
  assert(cases.length >= 5, `only ${cases.length} broken cases built`);
  for (const [what, d, field] of cases) {
    let refused = null;
    try { await validateOne(d); } catch (e) { refused = e.message; }
    assert(refused !== null, `${what} was accepted`);
    // An unknown field must be refused as such, not for some other reason.
    if (field) assert(refused.includes(`unknown field "${field}"`), `${what}: refused for another reason: ${refused}`);
  }
});
check('kserve: the InferenceService runs the ServingRuntime on the models claim, V2 protocol, port 8080', () => {
  const sr = manifests.find(m => m.d.kind === 'ServingRuntime')?.d;
  const isvc = manifests.find(m => m.d.kind === 'InferenceService')?.d;
  assert(sr && isvc, 'deploy/kserve lacks a ServingRuntime or an InferenceService');
  const model = isvc.spec.predictor.model;
  assert(model.runtime === sr.metadata.name, `runtime ${model.runtime} is not ${sr.metadata.name}`);
  assert(sr.spec.supportedModelFormats.some(f => f.name === model.modelFormat.name), 'modelFormat not supported by the runtime');
  assert(sr.spec.protocolVersions.includes('v2') && model.protocolVersion === 'v2', 'not the V2 protocol');
  const pvc = manifests.find(m => m.d.kind === 'PersistentVolumeClaim')?.d;
  assert(model.storageUri === `pvc://${pvc.metadata.name}/`, `storageUri ${model.storageUri} is not the claim ${pvc.metadata.name}`);
  const c = sr.spec.containers[0];
  assert(c.ports.some(p => p.containerPort === PORT), `no containerPort ${PORT}`);
  assert(c.readinessProbe?.httpGet?.path === '/v2/health/ready', 'readiness probe is not /v2/health/ready');
  assert(c.args.join(' ').includes('--config /mnt/models/config.json'), 'lmserve does not read the config KServe mounts at /mnt/models');
  const k = one('deploy/kserve/kustomization.yaml');
  for (const want of ['servingruntime.yaml', 'inferenceservice.yaml']) assert(k.resources.includes(want), `kustomization lacks ${want}`);
});

// ---- smoke script ----
check('docker/smoke.sh, replicas.sh: valid shell, skip cleanly without an engine', () => {
  const r = spawnSync('sh', ['-n', path.join(ROOT, 'docker/smoke.sh')], { encoding: 'utf8' });
  assert(r.status === 0, r.stderr);
  const s = read('docker/smoke.sh');
  for (const want of ['/ready', 'kjv-ngram', 'kjv-vectors', 'kjv-tiny', 'skipped: no engine', 'id -u', 'Health', 'SIGTERM', '--port 9000']) assert(s.includes(want), `smoke.sh lacks ${want}`);
  const r2 = spawnSync('sh', ['-n', path.join(ROOT, 'docker/replicas.sh')], { encoding: 'utf8' });
  assert(r2.status === 0, r2.stderr);
  assert(read('docker/replicas.sh').includes('skipped: no engine'), 'replicas.sh does not skip without an engine');
});

console.log(`deploy: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed ? 1 : 0);
