/**
 * Kafka's protocol message definitions (spec/kafka-protocol/messages/*.json) for tests that check the broker
 * against the specs field by field: which fields a version has, sample messages with every field filled.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './paths.js';

export interface SpecField {
  name: string;
  type: string;
  versions: string;
  nullableVersions?: string;
  taggedVersions?: string;
  flexibleVersions?: string;
  fields?: SpecField[];
}

export interface MessageSpec {
  apiKey?: number;
  type: string;
  name: string;
  validVersions: string;
  flexibleVersions: string;
  fields: SpecField[];
  commonStructs?: { name: string; fields: SpecField[] }[];
}

export const SPEC_DIR = path.join(REPO_ROOT, 'spec', 'kafka-protocol', 'messages');

/** Parses a spec file (JSON with // comments). */
export function loadSpec(file: string): MessageSpec {
  const text = readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => {
      let inString = false;
      for (let i = 0; i < line.length; i++) {
        const c = line[i];
        if (inString) {
          if (c === '\\') i++;
          else if (c === '"') inString = false;
        } else if (c === '"') inString = true;
        else if (c === '/' && line[i + 1] === '/') return line.slice(0, i);
      }
      return line;
    })
    .join('\n');
  return JSON.parse(text) as MessageSpec;
}

/** Request and response specs by API key. */
export function apiSpecs(): Map<number, { request: MessageSpec; response: MessageSpec }> {
  const out = new Map<number, { request: MessageSpec; response: MessageSpec }>();
  for (const file of readdirSync(SPEC_DIR).filter((f) => f.endsWith('Request.json'))) {
    const request = loadSpec(path.join(SPEC_DIR, file));
    const response = loadSpec(path.join(SPEC_DIR, file.replace(/Request\.json$/, 'Response.json')));
    out.set(request.apiKey!, { request, response });
  }
  return out;
}

/** "0+", "1-3", "3", "none" → whether version v is in the range. */
export function inVersions(range: string | undefined, v: number): boolean {
  if (range === undefined) return false;
  const s = range.trim();
  if (s === 'none' || s === '') return false;
  if (s.endsWith('+')) return v >= Number(s.slice(0, -1));
  if (s.includes('-')) {
    const [a, b] = s.split('-').map(Number);
    return v >= a! && v <= b!;
  }
  return v === Number(s);
}

/** The field name as the generated codecs spell it. */
export const camel = (name: string): string => name.charAt(0).toLowerCase() + name.slice(1);

/** The nested fields of a struct or struct-array field (inline or from commonStructs), or null for primitives. */
export function structFields(spec: MessageSpec, f: SpecField): SpecField[] | null {
  if (f.fields) return f.fields;
  const t = f.type.startsWith('[]') ? f.type.slice(2) : f.type;
  return spec.commonStructs?.find((c) => c.name === t)?.fields ?? null;
}

/** The non-tagged fields present in version v. */
export function fieldsAt(fields: readonly SpecField[], v: number): SpecField[] {
  return fields.filter((f) => inVersions(f.versions, v) && f.taggedVersions === undefined);
}

/**
 * A message of version v with every (non-tagged) field filled: numbers small and distinct, strings unique,
 * arrays of two elements, so that echoing and mirroring can be checked.
 */
export function sampleMessage(spec: MessageSpec, v: number): Record<string, unknown> {
  let counter = 0;
  const value = (f: SpecField): unknown => {
    const t = f.type;
    if (t.startsWith('[]')) {
      const inner = { ...f, type: t.slice(2) };
      return [value(inner), value(inner)];
    }
    switch (t) {
      case 'bool':
        return true;
      case 'int8':
        return 1;
      case 'int16':
      case 'uint16':
      case 'int32':
      case 'uint32':
      case 'int64':
        return 7 + counter++;
      case 'float64':
        return 1.5;
      case 'string':
        return `s${counter++}`;
      case 'uuid': {
        const b = Buffer.alloc(16, 0);
        b.writeUInt32BE(++counter, 12);
        return b;
      }
      case 'bytes':
      case 'records':
        return Buffer.from([1, 2, 3]);
      default: {
        const nested = structFields(spec, f);
        if (!nested) throw new Error(`unknown type ${t} in ${spec.name}`);
        return struct(nested);
      }
    }
  };
  const struct = (fields: readonly SpecField[]): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const f of fieldsAt(fields, v)) out[camel(f.name)] = value(f);
    return out;
  };
  return struct(spec.fields);
}
