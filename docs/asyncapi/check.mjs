// Checks the AsyncAPI document with @asyncapi/parser and validates sample
// messages against its schemas with ajv. Runs offline from tools/npm.
//
//   node check.mjs DOCUMENT [SAMPLES.json]
//
// SAMPLES.json is a list of {name, topic, json} (a JSON message) or
// {name, topic, binary: length} (a binary one). Prints one JSON report on
// stdout: the parser's diagnostics, the channels, operations and
// component schemas as the parser resolved them, and each sample's result.
// Exits 0 when the report could be made (the caller judges it), 2 otherwise.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', '..', 'tools', 'npm', 'package.json'));
const { Parser, fromFile } = require('@asyncapi/parser');
const Ajv = require('ajv');
const addFormats = require('ajv-formats');

const [docPath, samplesPath] = process.argv.slice(2);
if (!docPath) {
  console.error('usage: node check.mjs DOCUMENT [SAMPLES.json]');
  process.exit(2);
}

// Parser extensions (x-parser-*) are not JSON Schema keywords.
function clean(v) {
  if (Array.isArray(v)) return v.map(clean);
  if (v && typeof v === 'object') {
    const o = {};
    for (const [k, x] of Object.entries(v)) if (!k.startsWith('x-parser-')) o[k] = clean(x);
    return o;
  }
  return v;
}

const parser = new Parser();
const { document, diagnostics } = await fromFile(parser, resolve(docPath)).parse();
const report = {
  diagnostics: diagnostics.map((d) => ({ severity: d.severity, code: String(d.code), message: d.message, path: d.path.join('/') })),
  channels: [], operations: [], schemas: {}, results: [],
};
if (!document) {
  console.log(JSON.stringify(report));
  process.exit(0);
}

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);

for (const ch of document.channels().all()) {
  const params = ch.parameters().all().map((p) => p.id());
  const messages = ch.messages().all().map((m) => ({
    id: m.id(), name: m.name(), contentType: m.contentType() || document.defaultContentType(),
    payload: m.hasPayload() ? clean(m.payload().json()) : null,
  }));
  report.channels.push({ id: ch.id(), address: ch.address(), parameters: params, messages });
}
for (const op of document.operations().all()) {
  report.operations.push({ id: op.id(), action: op.action(), channels: op.channels().all().map((c) => c.id()),
    qos: op.bindings().get('mqtt')?.value()?.qos });
}
for (const s of document.components().schemas().all()) {
  const j = clean(s.json());
  report.schemas[s.id()] = { properties: Object.keys(j.properties || {}), required: j.required || [],
    enums: Object.fromEntries(Object.entries(j.properties || {}).filter(([, p]) => p.enum).map(([k, p]) => [k, p.enum])) };
}

function channelFor(topic) {
  for (const ch of report.channels) {
    const re = new RegExp('^' + ch.address.split('/').map((part) =>
      /^\{[^}]+\}$/.test(part) ? '[^/+#]+' : part.replace(/[.*+?^$()|[\]\\]/g, '\\$&')).join('/') + '$');
    if (re.test(topic)) return ch;
  }
  return null;
}

const samples = samplesPath ? JSON.parse(readFileSync(samplesPath, 'utf8')) : [];
for (const s of samples) {
  const ch = channelFor(s.topic);
  const r = { name: s.name, topic: s.topic, channel: ch ? ch.id : null, valid: false, errors: [] };
  if (!ch) {
    r.errors.push('no channel matches the topic');
  } else {
    for (const m of ch.messages) {
      if ('binary' in s) {
        if (m.contentType === 'application/octet-stream') { r.valid = true; r.message = m.id; break; }
        r.errors.push(`${m.id}: content type ${m.contentType}, sample is binary`);
        continue;
      }
      if (m.contentType !== 'application/json') { r.errors.push(`${m.id}: content type ${m.contentType}`); continue; }
      const validate = ajv.compile(m.payload);
      if (validate(s.json)) { r.valid = true; r.message = m.id; break; }
      r.errors.push(...validate.errors.map((e) => `${m.id}: ${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`));
    }
  }
  report.results.push(r);
}
console.log(JSON.stringify(report));
