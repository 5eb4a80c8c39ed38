#!/usr/bin/env node
/**
 * Generates src/protocol/generated/ from Apache Kafka's protocol message definitions
 * (spec/kafka-protocol/messages/*.json and extra/*.json).
 *
 * One module per API key (request + response, every version), one per header and data message,
 * plus apis.ts (the table of APIs) and index.ts. Each struct gets:
 *   - a decoded interface (every field present, defaults filled in for versions that lack it),
 *   - an input interface (every field optional; missing fields encode as their default),
 *   - read / write / size functions taking the version, with flexible (compact + tagged) encodings.
 *
 * Usage: node scripts/gen-protocol.mjs [--check] [--spec-dir DIR]
 *   --check  exit 1 if the committed output differs from what would be generated.
 */
import { readFileSync, readdirSync, writeFileSync, mkdirSync, existsSync, rmSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const check = args.includes('--check');
const specDirArg = args.indexOf('--spec-dir');
// The specs are vendored in spec/kafka-protocol (a byte-for-byte copy of Apache Kafka's message
// definitions, Apache-2.0, see spec/kafka-protocol/SOURCE.md) so that a clone builds on its own.
const specRoot = specDirArg >= 0 ? resolve(args[specDirArg + 1]) : resolve(root, 'spec', 'kafka-protocol');
const outDir = join(root, 'src', 'protocol', 'generated');

// ---------------------------------------------------------------------------------------------
// Spec loading

function loadSpec(file) {
  const text = readFileSync(file, 'utf8');
  // Strip // comments (the JSON files are commented). No string in the specs contains "//"
  // except URLs inside "about" texts, so only strip comments that start a line or follow a comma/brace.
  const stripped = text
    .split('\n')
    .map((line) => {
      const idx = findCommentStart(line);
      return idx >= 0 ? line.slice(0, idx) : line;
    })
    .join('\n');
  return JSON.parse(stripped);
}

/** Index of a // comment outside of a JSON string, or -1. */
function findCommentStart(line) {
  let inString = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '/' && line[i + 1] === '/') return i;
  }
  return -1;
}

/** Parses "0+", "1-3", "3", "none" into [min, max] (max Infinity) or null. */
function parseVersions(s) {
  if (s === undefined || s === null) return null;
  s = String(s).trim();
  if (s === 'none' || s === '') return null;
  if (s.endsWith('+')) return [Number(s.slice(0, -1)), Infinity];
  if (s.includes('-')) {
    const [a, b] = s.split('-').map(Number);
    return [a, b];
  }
  return [Number(s), Number(s)];
}

// ---------------------------------------------------------------------------------------------
// Code generation helpers

const PRIMITIVES = new Set([
  'bool', 'int8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'float64', 'string', 'bytes', 'records', 'uuid',
]);

const camel = (name) => name.charAt(0).toLowerCase() + name.slice(1);

function kebab(name) {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1-$2')
    .toLowerCase();
}

/** A TypeScript boolean expression for "version v is within range r". */
function inRange(r, v = 'v') {
  if (!r) return 'false';
  const [lo, hi] = r;
  if (lo === 0 && hi === Infinity) return 'true';
  if (hi === Infinity) return `${v} >= ${lo}`;
  if (lo === hi) return `${v} === ${lo}`;
  if (lo === 0) return `${v} <= ${hi}`;
  return `(${v} >= ${lo} && ${v} <= ${hi})`;
}

/** Intersects ranges; used to reason about whether a condition is always true within a struct's versions. */
function covers(outer, inner) {
  if (!inner) return true;
  if (!outer) return false;
  return outer[0] <= inner[0] && outer[1] >= inner[1];
}

function tsType(f, structName, input) {
  const t = f.type;
  if (t.startsWith('[]')) {
    const inner = t.slice(2);
    const innerTs = PRIMITIVES.has(inner) ? primTs(inner) : structName(inner) + (input ? 'Input' : '');
    return `${innerTs}[]`;
  }
  if (PRIMITIVES.has(t)) return primTs(t);
  return structName(t) + (input ? 'Input' : '');
}

function primTs(t) {
  switch (t) {
    case 'bool':
      return 'boolean';
    case 'string':
      return 'string';
    case 'bytes':
    case 'records':
    case 'uuid':
      return 'Buffer';
    default:
      return 'number';
  }
}

function defaultExpr(f, structName) {
  const t = f.type;
  const d = f.default;
  if (t.startsWith('[]')) return '[]';
  if (d === 'null') return 'null';
  switch (t) {
    case 'bool':
      return d === undefined ? 'false' : String(d === true || d === 'true');
    case 'string':
      return d === undefined ? "''" : JSON.stringify(String(d));
    case 'bytes':
      return 'EMPTY_BYTES';
    case 'records':
      return 'null';
    case 'uuid':
      return 'ZERO_UUID';
    case 'int8':
    case 'int16':
    case 'uint16':
    case 'int32':
    case 'uint32':
    case 'int64':
    case 'float64': {
      if (d === undefined) return '0';
      const s = String(d);
      const n = s.startsWith('0x') || s.startsWith('-0x') ? Number(BigInt(s)) : Number(s);
      return String(n);
    }
    default:
      // struct: non-nullable structs default to a default-filled struct
      return `${structName(t)}Default()`;
  }
}

// ---------------------------------------------------------------------------------------------
// Struct collection

/**
 * Walks a message spec and collects every struct (top-level message struct, inline structs and
 * common structs) into a list with a resolved TS name.
 */
function collectStructs(spec, prefix) {
  const structs = new Map(); // spec struct name -> { tsName, fields, versions }
  const nameOf = (n) => `${prefix}${n}`;
  const visit = (fields, versions) => {
    for (const f of fields) {
      if (f.fields) {
        const inner = f.type.startsWith('[]') ? f.type.slice(2) : f.type;
        if (!structs.has(inner)) {
          structs.set(inner, { specName: inner, tsName: nameOf(inner), fields: f.fields, versions });
          visit(f.fields, versions);
        }
      }
    }
  };
  for (const cs of spec.commonStructs ?? []) {
    structs.set(cs.name, { specName: cs.name, tsName: nameOf(cs.name), fields: cs.fields, versions: null });
  }
  for (const cs of spec.commonStructs ?? []) visit(cs.fields, null);
  visit(spec.fields, null);
  return structs;
}

// ---------------------------------------------------------------------------------------------
// Emitting one message (request, response, header, or data)

function emitMessage(spec, out) {
  const msgName = spec.name; // e.g. ProduceRequest
  const structs = collectStructs(spec, msgName === spec.name ? '' : '');
  // Struct names must be unique per module: prefix inline structs with the message name unless
  // they already start with it (Kafka often names them e.g. MetadataResponseTopic).
  const tsNames = new Map();
  for (const [specName] of structs) {
    tsNames.set(specName, specName.startsWith(msgName) ? specName : `${msgName}${specName}`);
  }
  const structName = (n) => {
    if (n === msgName) return msgName;
    const ts = tsNames.get(n);
    if (!ts) throw new Error(`${msgName}: unknown struct type ${n}`);
    return ts;
  };
  const validVersions = parseVersions(spec.validVersions);
  const flexible = parseVersions(spec.flexibleVersions);
  const all = [{ tsName: msgName, fields: spec.fields, top: true }];
  for (const [specName, s] of structs) all.push({ tsName: structName(specName), fields: s.fields, top: false });

  const emitted = new Set();
  for (const s of all) {
    if (emitted.has(s.tsName)) continue;
    emitted.add(s.tsName);
    emitStruct(s, { structName, flexible, validVersions, out, msgName });
  }
}

function fieldFlexible(f, flexible) {
  // Field-level flexibleVersions overrides the message's (RequestHeader.ClientId is never compact).
  if (f.flexibleVersions !== undefined) return parseVersions(f.flexibleVersions);
  return flexible;
}

function emitStruct(s, ctx) {
  const { structName, flexible, out, validVersions } = ctx;
  const name = s.tsName;
  const fields = s.fields;
  const regular = fields.filter((f) => f.tag === undefined);
  const tagged = fields.filter((f) => f.tag !== undefined).sort((a, b) => a.tag - b.tag);

  // Interfaces
  out.push(`export interface ${name} {`);
  for (const f of fields) {
    const nullable = parseVersions(f.nullableVersions) || f.default === 'null' || f.type === 'records';
    out.push(`  /** ${(f.about ?? '').replace(/\*\//g, '* /')} (versions ${f.versions}${f.nullableVersions ? `, nullable ${f.nullableVersions}` : ''}${f.tag !== undefined ? `, tag ${f.tag}` : ''}) */`);
    out.push(`  ${camel(f.name)}: ${tsType(f, structName, false)}${nullable ? ' | null' : ''};`);
  }
  out.push('}');
  out.push(`export interface ${name}Input {`);
  for (const f of fields) {
    const nullable = parseVersions(f.nullableVersions) || f.default === 'null' || f.type === 'records';
    out.push(`  ${camel(f.name)}?: ${tsType(f, structName, true)}${nullable ? ' | null' : ''};`);
  }
  out.push('}');

  // Default constructor
  out.push(`export function ${name}Default(): ${name} {`);
  out.push('  return {');
  for (const f of fields) out.push(`    ${camel(f.name)}: ${defaultExpr(f, structName)},`);
  out.push('  };');
  out.push('}');

  const flexCond = inRange(flexible);

  // ---- read
  out.push(`export function read${name}(r: Reader, v: number): ${name} {`);
  out.push(`  const m = ${name}Default();`);
  for (const f of regular) {
    const vr = parseVersions(f.versions);
    const cond = inRange(vr);
    const body = readExpr(f, ctx, 'r');
    if (cond === 'true') out.push(`  m.${camel(f.name)} = ${body};`);
    else if (cond !== 'false') out.push(`  if (${cond}) m.${camel(f.name)} = ${body};`);
  }
  if (flexible) {
    out.push(`  if (${flexCond}) {`);
    if (tagged.length === 0) {
      out.push('    r.skipTaggedFields();');
    } else {
      out.push('    const n = r.uvarint();');
      out.push('    for (let i = 0; i < n; i++) {');
      out.push('      const tag = r.uvarint();');
      out.push('      const size = r.uvarint();');
      out.push('      const end = r.pos + size;');
      out.push('      switch (tag) {');
      for (const f of tagged) {
        const tv = parseVersions(f.taggedVersions);
        out.push(`        case ${f.tag}:`);
        out.push(`          if (${inRange(tv)}) m.${camel(f.name)} = ${readExpr(f, ctx, 'r', true)};`);
        out.push('          break;');
      }
      out.push('      }');
      out.push('      r.pos = end;');
      out.push('    }');
    }
    out.push('  }');
  }
  out.push('  return m;');
  out.push('}');

  // ---- size
  out.push(`export function size${name}(m: ${name}Input, v: number): number {`);
  out.push('  let n = 0;');
  for (const f of regular) {
    const vr = parseVersions(f.versions);
    const cond = inRange(vr);
    if (cond === 'false') continue;
    const expr = sizeExpr(f, ctx, `m.${camel(f.name)}`);
    if (cond === 'true') out.push(`  n += ${expr};`);
    else out.push(`  if (${cond}) n += ${expr};`);
  }
  if (flexible) {
    out.push(`  if (${flexCond}) {`);
    if (tagged.length === 0) out.push('    n += 1;');
    else {
      out.push('    let count = 0;');
      for (const f of tagged) {
        const tv = parseVersions(f.taggedVersions);
        const val = `m.${camel(f.name)}`;
        out.push(`    if (${inRange(tv)} && ${val} !== undefined && !isDefault(${val}, ${defaultExpr(f, structName)})) {`);
        out.push(`      const s = ${sizeExpr(f, ctx, val, true)};`);
        out.push(`      n += sizeOfUvarint(${f.tag}) + sizeOfUvarint(s) + s;`);
        out.push('      count++;');
        out.push('    }');
      }
      out.push('    n += sizeOfUvarint(count);');
    }
    out.push('  }');
  }
  out.push('  return n;');
  out.push('}');

  // ---- write
  out.push(`export function write${name}(w: Writer, m: ${name}Input, v: number): void {`);
  for (const f of regular) {
    const vr = parseVersions(f.versions);
    const cond = inRange(vr);
    if (cond === 'false') continue;
    const stmt = writeStmt(f, ctx, `m.${camel(f.name)}`, 'w');
    if (cond === 'true') out.push(`  ${stmt}`);
    else out.push(`  if (${cond}) ${stmt}`);
  }
  if (flexible) {
    out.push(`  if (${flexCond}) {`);
    if (tagged.length === 0) out.push('    w.uvarint(0);');
    else {
      out.push('    let count = 0;');
      const presentConds = tagged.map((f) => {
        const tv = parseVersions(f.taggedVersions);
        const val = `m.${camel(f.name)}`;
        return `(${inRange(tv)} && ${val} !== undefined && !isDefault(${val}, ${defaultExpr(f, structName)}))`;
      });
      presentConds.forEach((c, i) => out.push(`    const p${i} = ${c};`));
      presentConds.forEach((_, i) => out.push(`    if (p${i}) count++;`));
      out.push('    w.uvarint(count);');
      tagged.forEach((f, i) => {
        const val = `m.${camel(f.name)}`;
        out.push(`    if (p${i}) {`);
        out.push(`      w.uvarint(${f.tag});`);
        out.push(`      w.uvarint(${sizeExpr(f, ctx, val, true)});`);
        out.push(`      ${writeStmt(f, ctx, val, 'w', true)}`);
        out.push('    }');
      });
    }
    out.push('  }');
  }
  out.push('}');
  void validVersions;
}

/** Expression reading field f. `inTag`: tagged fields are always flexible-encoded. */
function readExpr(f, ctx, r, inTag = false) {
  const fx = fieldFlexible(f, ctx.flexible);
  const flex = inTag ? 'true' : inRange(fx);
  const nullable = parseVersions(f.nullableVersions);
  const t = f.type;
  if (t.startsWith('[]')) {
    const inner = t.slice(2);
    const elem = PRIMITIVES.has(inner)
      ? inner === 'string'
        ? `(${primRead(inner, flex, r)} ?? '')`
        : inner === 'bytes'
          ? `(${primRead(inner, flex, r)} ?? EMPTY_BYTES)`
          : primRead(inner, flex, r)
      : `read${ctx.structName(inner)}(${r}, v)`;
    return `readArray(${r}, ${flex}, () => ${elem})${nullable ? '' : ' ?? []'}`;
  }
  if (PRIMITIVES.has(t)) {
    const e = primRead(t, flex, r);
    if ((t === 'string' || t === 'bytes') && !nullable && f.default !== 'null') {
      return `(${e} ?? ${t === 'string' ? "''" : 'EMPTY_BYTES'})`;
    }
    return e;
  }
  // struct
  if (nullable) return `(${r}.int8() < 0 ? null : read${ctx.structName(t)}(${r}, v))`;
  return `read${ctx.structName(t)}(${r}, v)`;
}

function primRead(t, flex, r) {
  switch (t) {
    case 'bool':
      return `${r}.bool()`;
    case 'int8':
      return `${r}.int8()`;
    case 'int16':
      return `${r}.int16()`;
    case 'uint16':
      return `${r}.uint16()`;
    case 'int32':
      return `${r}.int32()`;
    case 'uint32':
      return `${r}.uint32()`;
    case 'int64':
      return `${r}.int64()`;
    case 'float64':
      return `${r}.float64()`;
    case 'uuid':
      return `${r}.uuid()`;
    case 'string':
      return flex === 'true' ? `${r}.compactString()` : flex === 'false' ? `${r}.string()` : `(${flex} ? ${r}.compactString() : ${r}.string())`;
    case 'bytes':
    case 'records':
      return flex === 'true' ? `${r}.compactBytes()` : flex === 'false' ? `${r}.bytes()` : `(${flex} ? ${r}.compactBytes() : ${r}.bytes())`;
  }
  throw new Error(`unknown primitive ${t}`);
}

function sizeExpr(f, ctx, val, inTag = false) {
  const fx = fieldFlexible(f, ctx.flexible);
  const flex = inTag ? 'true' : inRange(fx);
  const nullable = parseVersions(f.nullableVersions);
  const t = f.type;
  const dflt = defaultExpr(f, ctx.structName);
  if (t.startsWith('[]')) {
    const inner = t.slice(2);
    const elem = PRIMITIVES.has(inner) ? primSize(inner, flex, 'e', 'e') : `size${ctx.structName(inner)}(e, v)`;
    return `sizeArray(${val}, ${flex}, (e) => ${elem})`;
  }
  if (PRIMITIVES.has(t)) return primSize(t, flex, val, withDefault(val, dflt, nullable));
  if (nullable) return `(${val} == null ? 1 : 1 + size${ctx.structName(t)}(${val}, v))`;
  return `size${ctx.structName(t)}(${val} ?? {}, v)`;
}

/**
 * The value to encode: a missing (undefined) field encodes as its default. For a nullable field an
 * explicit null is kept (written as the null marker); elsewhere null also falls back to the default.
 */
function withDefault(val, dflt, nullable) {
  return nullable && dflt !== 'null' ? `(${val} === undefined ? ${dflt} : ${val})` : `(${val} ?? ${dflt})`;
}

function primSize(t, flex, val, withDefault) {
  switch (t) {
    case 'bool':
    case 'int8':
      return '1';
    case 'int16':
    case 'uint16':
      return '2';
    case 'int32':
    case 'uint32':
      return '4';
    case 'int64':
    case 'float64':
      return '8';
    case 'uuid':
      return '16';
    case 'string':
      return flex === 'true'
        ? `sizeOfCompactString(${withDefault})`
        : flex === 'false'
          ? `sizeOfString(${withDefault})`
          : `(${flex} ? sizeOfCompactString(${withDefault}) : sizeOfString(${withDefault}))`;
    case 'bytes':
    case 'records':
      return flex === 'true'
        ? `sizeOfCompactBytes(${withDefault})`
        : flex === 'false'
          ? `sizeOfBytes(${withDefault})`
          : `(${flex} ? sizeOfCompactBytes(${withDefault}) : sizeOfBytes(${withDefault}))`;
  }
  throw new Error(`unknown primitive ${t}`);
}

function writeStmt(f, ctx, val, w, inTag = false) {
  const fx = fieldFlexible(f, ctx.flexible);
  const flex = inTag ? 'true' : inRange(fx);
  const nullable = parseVersions(f.nullableVersions);
  const t = f.type;
  const dflt = defaultExpr(f, ctx.structName);
  if (t.startsWith('[]')) {
    const inner = t.slice(2);
    const elem = PRIMITIVES.has(inner) ? primWrite(inner, flex, w, 'e') : `write${ctx.structName(inner)}(${w}, e, v)`;
    return `writeArray(${w}, ${val}, ${flex}, (e) => ${elem});`;
  }
  if (PRIMITIVES.has(t)) return `${primWrite(t, flex, w, withDefault(val, dflt, nullable))};`;
  if (nullable) {
    return `if (${val} == null) ${w}.int8(-1); else { ${w}.int8(1); write${ctx.structName(t)}(${w}, ${val}, v); }`;
  }
  return `write${ctx.structName(t)}(${w}, ${val} ?? {}, v);`;
}

function primWrite(t, flex, w, val) {
  switch (t) {
    case 'bool':
      return `${w}.bool(${val})`;
    case 'int8':
      return `${w}.int8(${val})`;
    case 'int16':
      return `${w}.int16(${val})`;
    case 'uint16':
      return `${w}.uint16(${val})`;
    case 'int32':
      return `${w}.int32(${val})`;
    case 'uint32':
      return `${w}.uint32(${val})`;
    case 'int64':
      return `${w}.int64(${val})`;
    case 'float64':
      return `${w}.float64(${val})`;
    case 'uuid':
      return `${w}.uuid(${val})`;
    case 'string':
      return flex === 'true'
        ? `${w}.compactString(${val})`
        : flex === 'false'
          ? `${w}.string(${val})`
          : `(${flex} ? ${w}.compactString(${val}) : ${w}.string(${val}))`;
    case 'bytes':
    case 'records':
      return flex === 'true'
        ? `${w}.compactBytes(${val})`
        : flex === 'false'
          ? `${w}.bytes(${val})`
          : `(${flex} ? ${w}.compactBytes(${val}) : ${w}.bytes(${val}))`;
  }
  throw new Error(`unknown primitive ${t}`);
}

// ---------------------------------------------------------------------------------------------
// Machine-readable request schemas (schema.ts), for tools that generate requests field by field
// (the fuzzer in test/fuzz). Version ranges use the same parser as the codecs, with an open upper
// bound written as 32767, and every struct (inline or common) is expanded in place.

const OPEN_VERSION = 32767;

function schemaRange(r) {
  return r ? [r[0], r[1] === Infinity ? OPEN_VERSION : r[1]] : null;
}

function schemaFields(fields, commons, msgName) {
  return fields.map((f) => {
    const out = { name: f.name, type: f.type, versions: schemaRange(parseVersions(f.versions)) };
    const nullable = schemaRange(parseVersions(f.nullableVersions));
    if (nullable) out.nullableVersions = nullable;
    if (f.flexibleVersions !== undefined) out.flexibleVersions = schemaRange(parseVersions(f.flexibleVersions));
    if (f.tag !== undefined) {
      out.tag = Number(f.tag);
      out.taggedVersions = schemaRange(parseVersions(f.taggedVersions));
    }
    if (f.entityType) out.entityType = f.entityType;
    const inner = f.type.startsWith('[]') ? f.type.slice(2) : f.type;
    if (!PRIMITIVES.has(inner)) {
      const sub = f.fields ?? commons.get(inner);
      if (!sub) throw new Error(`${msgName}: unknown struct type ${inner}`);
      out.fields = schemaFields(sub, commons, msgName);
    }
    return out;
  });
}

function requestSchemaModule(requests) {
  const lines = [
    HEADER,
    `/** One field of a request, as in Kafka's message definitions (version ranges inclusive). */
export interface FieldSchema {
  readonly name: string;
  /** A primitive (int8 ... uuid, string, bytes, records), a struct name, or []element for arrays. */
  readonly type: string;
  readonly versions: readonly [number, number] | null;
  readonly nullableVersions?: readonly [number, number] | null;
  /** Overrides the message's flexible versions for this field (RequestHeader.ClientId). */
  readonly flexibleVersions?: readonly [number, number] | null;
  readonly tag?: number;
  readonly taggedVersions?: readonly [number, number] | null;
  /** topicName, groupId, brokerId, transactionalId, producerId, ... */
  readonly entityType?: string;
  /** The struct's fields, for struct and struct-array types. */
  readonly fields?: readonly FieldSchema[];
}

export interface RequestSchema {
  readonly apiKey: number;
  readonly name: string;
  readonly validVersions: readonly [number, number];
  readonly flexibleVersions: readonly [number, number] | null;
  readonly fields: readonly FieldSchema[];
}

/** Every request the generated codecs know, by API key. */
export const REQUEST_SCHEMAS: ReadonlyMap<number, RequestSchema> = new Map<number, RequestSchema>([`,
  ];
  for (const spec of requests) {
    const commons = new Map((spec.commonStructs ?? []).map((cs) => [cs.name, cs.fields]));
    const schema = {
      apiKey: spec.apiKey,
      name: spec.name,
      validVersions: schemaRange(parseVersions(spec.validVersions)),
      flexibleVersions: schemaRange(parseVersions(spec.flexibleVersions)),
      fields: schemaFields(spec.fields, commons, spec.name),
    };
    lines.push(`  [${spec.apiKey}, ${JSON.stringify(schema)}],`);
  }
  lines.push(']);');
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// Files

const HEADER = `// Generated by scripts/gen-protocol.mjs from Apache Kafka's protocol message definitions
// (spec/kafka-protocol). Do not edit by hand: change the generator and run \`npm run gen\`.
/* eslint-disable */
`;

const IMPORTS = `import {
  Reader,
  Writer,
  ZERO_UUID,
  sizeOfUvarint,
  sizeOfString,
  sizeOfCompactString,
  sizeOfBytes,
  sizeOfCompactBytes,
} from '../primitives.js';
import { EMPTY_BYTES, isDefault, readArray, sizeArray, writeArray } from '../codec-helpers.js';
`;

function moduleFor(specs) {
  const out = [HEADER, IMPORTS];
  for (const spec of specs) {
    out.push(`// ---- ${spec.name} (versions ${spec.validVersions}, flexible ${spec.flexibleVersions ?? 'none'})`);
    emitMessage(spec, out);
  }
  let text = out.join('\n') + '\n';
  // Drop unused imports so tsc's noUnusedLocals-style checks and readers stay clean.
  for (const sym of ['ZERO_UUID', 'sizeOfUvarint', 'sizeOfString', 'sizeOfCompactString', 'sizeOfBytes', 'sizeOfCompactBytes', 'EMPTY_BYTES', 'isDefault', 'readArray', 'sizeArray', 'writeArray']) {
    const uses = text.split(new RegExp(`\\b${sym}\\b`)).length - 1;
    if (uses === 1) text = text.replace(new RegExp(`\\n  ${sym},|\\b${sym}, |, ${sym}\\b`), '');
  }
  return text;
}

function generate() {
  const files = new Map();
  const msgDir = join(specRoot, 'messages');
  const byKey = new Map();
  const others = [];
  for (const file of readdirSync(msgDir).filter((f) => f.endsWith('.json')).sort()) {
    const spec = loadSpec(join(msgDir, file));
    if (spec.type === 'request' || spec.type === 'response') {
      const e = byKey.get(spec.apiKey) ?? {};
      e[spec.type] = spec;
      byKey.set(spec.apiKey, e);
    } else others.push(spec);
  }
  const extraDir = join(specRoot, 'extra');
  if (existsSync(extraDir)) {
    for (const file of readdirSync(extraDir).filter((f) => f.endsWith('.json')).sort()) {
      others.push(loadSpec(join(extraDir, file)));
    }
  }

  const apiRows = [];
  const indexLines = [HEADER];
  for (const key of [...byKey.keys()].sort((a, b) => a - b)) {
    const { request, response } = byKey.get(key);
    const apiName = request.name.replace(/Request$/, '');
    const mod = kebab(apiName);
    files.set(`${mod}.ts`, moduleFor([request, response]));
    const vv = parseVersions(request.validVersions);
    const fv = parseVersions(request.flexibleVersions);
    apiRows.push({
      key,
      name: apiName,
      mod,
      min: vv[0],
      max: vv[1],
      flexibleMin: fv ? fv[0] : -1,
      latestUnstable: request.latestVersionUnstable === true,
      listeners: request.listeners ?? [],
      deprecated: request.deprecatedVersions ?? null,
    });
    indexLines.push(`export * from './${mod}.js';`);
  }
  for (const spec of others) {
    const mod = kebab(spec.name);
    files.set(`${mod}.ts`, moduleFor([spec]));
    indexLines.push(`export * from './${mod}.js';`);
  }
  indexLines.push(`export * from './apis.js';`);
  // api-table.ts: the same table without the codecs, which load on first use (what a client needs to start fast)
  files.set('api-table.ts', apiTableModule(apiRows));

  // apis.ts: the API table with codecs, used by the server's dispatcher and the client.
  const apis = [HEADER, `import type { Reader, Writer } from '../primitives.js';`];
  for (const a of apiRows) {
    apis.push(
      `import { read${a.name}Request, write${a.name}Request, size${a.name}Request, read${a.name}Response, write${a.name}Response, size${a.name}Response } from './${a.mod}.js';`,
    );
  }
  apis.push(`
export interface ApiCodec {
  readonly key: number;
  readonly name: string;
  /** Lowest version in the spec. */
  readonly minVersion: number;
  /** Highest version in the spec, including an unstable latest version. */
  readonly maxVersion: number;
  /** Highest version that is stable (never advertise an unstable version). */
  readonly maxStableVersion: number;
  /** First flexible version, or -1 if none. */
  readonly flexibleMin: number;
  readonly listeners: readonly string[];
  readRequest(r: Reader, v: number): any;
  writeRequest(w: Writer, m: any, v: number): void;
  sizeRequest(m: any, v: number): number;
  readResponse(r: Reader, v: number): any;
  writeResponse(w: Writer, m: any, v: number): void;
  sizeResponse(m: any, v: number): number;
}

export const ApiKey = {`);
  for (const a of apiRows) apis.push(`  ${a.name}: ${a.key},`);
  apis.push('} as const;\n');
  apis.push('export const API_CODECS: ReadonlyMap<number, ApiCodec> = new Map<number, ApiCodec>([');
  for (const a of apiRows) {
    apis.push(
      `  [${a.key}, { key: ${a.key}, name: '${a.name}', minVersion: ${a.min}, maxVersion: ${a.max}, maxStableVersion: ${a.latestUnstable ? a.max - 1 : a.max}, flexibleMin: ${a.flexibleMin}, listeners: ${JSON.stringify(a.listeners)}, readRequest: read${a.name}Request, writeRequest: write${a.name}Request, sizeRequest: size${a.name}Request, readResponse: read${a.name}Response, writeResponse: write${a.name}Response, sizeResponse: size${a.name}Response }],`,
    );
  }
  apis.push(']);');
  apis.push(`
/** Request header version for an API version: v2 when flexible, v1 otherwise (ControlledShutdown v0 uses v0). */
export function requestHeaderVersion(apiKey: number, apiVersion: number): number {
  const api = API_CODECS.get(apiKey);
  if (apiKey === 7 && apiVersion === 0) return 0;
  return api && api.flexibleMin >= 0 && apiVersion >= api.flexibleMin ? 2 : 1;
}

/** Response header version: v1 when flexible, except ApiVersions, which always answers with v0 (KIP-511). */
export function responseHeaderVersion(apiKey: number, apiVersion: number): number {
  if (apiKey === 18) return 0;
  const api = API_CODECS.get(apiKey);
  return api && api.flexibleMin >= 0 && apiVersion >= api.flexibleMin ? 1 : 0;
}
`);
  files.set('apis.ts', apis.join('\n'));
  files.set('schema.ts', requestSchemaModule([...byKey.keys()].sort((a, b) => a - b).map((k) => byKey.get(k).request)));
  files.set('index.ts', indexLines.join('\n') + '\n');
  return files;
}

/**
 * api-table.ts: API keys, version ranges and header versions, with each API's codec module imported only when
 * loadApiCodec asks for it. A client that speaks a handful of APIs then loads a handful of the generated modules
 * instead of all of them (apis.ts imports every one, for the broker's dispatcher). Not part of index.ts: its names
 * repeat those of apis.ts.
 */
function apiTableModule(apiRows) {
  const lines = [
    HEADER,
    `import type { ApiCodec } from './apis.js';

export interface ApiInfo {
  readonly key: number;
  readonly name: string;
  /** Lowest version in the spec. */
  readonly minVersion: number;
  /** Highest version in the spec, including an unstable latest version. */
  readonly maxVersion: number;
  /** Highest version that is stable (never advertise an unstable version). */
  readonly maxStableVersion: number;
  /** First flexible version, or -1 if none. */
  readonly flexibleMin: number;
  /** The generated module with this API's codecs (without .js). */
  readonly module: string;
}

export const ApiKey = {`,
  ];
  for (const a of apiRows) lines.push(`  ${a.name}: ${a.key},`);
  lines.push('} as const;\n');
  lines.push('export const API_TABLE: ReadonlyMap<number, ApiInfo> = new Map<number, ApiInfo>([');
  for (const a of apiRows) {
    lines.push(
      `  [${a.key}, { key: ${a.key}, name: '${a.name}', minVersion: ${a.min}, maxVersion: ${a.max}, maxStableVersion: ${a.latestUnstable ? a.max - 1 : a.max}, flexibleMin: ${a.flexibleMin}, module: '${a.mod}' }],`,
    );
  }
  lines.push(']);');
  lines.push(`
/** Request header version for an API version: v2 when flexible, v1 otherwise (ControlledShutdown v0 uses v0). */
export function requestHeaderVersion(apiKey: number, apiVersion: number): number {
  const api = API_TABLE.get(apiKey);
  if (apiKey === 7 && apiVersion === 0) return 0;
  return api && api.flexibleMin >= 0 && apiVersion >= api.flexibleMin ? 2 : 1;
}

/** Response header version: v1 when flexible, except ApiVersions, which always answers with v0 (KIP-511). */
export function responseHeaderVersion(apiKey: number, apiVersion: number): number {
  if (apiKey === 18) return 0;
  const api = API_TABLE.get(apiKey);
  return api && api.flexibleMin >= 0 && apiVersion >= api.flexibleMin ? 1 : 0;
}

const loaded = new Map<number, ApiCodec>();
const loading = new Map<number, Promise<ApiCodec | undefined>>();

/** The codec of an API once loadApiCodec has loaded it, else undefined. */
export function loadedApiCodec(apiKey: number): ApiCodec | undefined {
  return loaded.get(apiKey);
}

/**
 * Imports an API's codec module (once) and returns its codec; undefined for an unknown key. Callers waiting for the
 * same API share one promise, so they resume in the order they asked.
 */
export function loadApiCodec(apiKey: number): Promise<ApiCodec | undefined> {
  const known = loaded.get(apiKey);
  if (known) return Promise.resolve(known);
  let pending = loading.get(apiKey);
  if (!pending) {
    pending = importCodec(apiKey);
    loading.set(apiKey, pending);
  }
  return pending;
}

async function importCodec(apiKey: number): Promise<ApiCodec | undefined> {
  const api = API_TABLE.get(apiKey);
  if (!api) return undefined;
  const m = (await import(\`./\${api.module}.js\`)) as Record<string, any>;
  const codec: ApiCodec = {
    key: api.key,
    name: api.name,
    minVersion: api.minVersion,
    maxVersion: api.maxVersion,
    maxStableVersion: api.maxStableVersion,
    flexibleMin: api.flexibleMin,
    listeners: [],
    readRequest: m[\`read\${api.name}Request\`],
    writeRequest: m[\`write\${api.name}Request\`],
    sizeRequest: m[\`size\${api.name}Request\`],
    readResponse: m[\`read\${api.name}Response\`],
    writeResponse: m[\`write\${api.name}Response\`],
    sizeResponse: m[\`size\${api.name}Response\`],
  };
  loaded.set(apiKey, codec);
  return codec;
}
`);
  return lines.join('\n');
}

const files = generate();
if (check) {
  const stale = [];
  for (const [name, text] of files) {
    const p = join(outDir, name);
    if (!existsSync(p) || readFileSync(p, 'utf8') !== text) stale.push(name);
  }
  const existing = existsSync(outDir) ? readdirSync(outDir) : [];
  for (const name of existing) if (!files.has(name)) stale.push(`${name} (not generated any more)`);
  if (stale.length) {
    console.error(`generated protocol code is stale (${stale.length} files, e.g. ${stale.slice(0, 3).join(', ')}); run: npm run gen`);
    process.exit(1);
  }
  console.log(`generated protocol code is up to date (${files.size} files)`);
} else {
  if (existsSync(outDir)) rmSync(outDir, { recursive: true });
  mkdirSync(outDir, { recursive: true });
  for (const [name, text] of files) writeFileSync(join(outDir, name), text);
  console.log(`wrote ${files.size} files to ${outDir}`);
}
