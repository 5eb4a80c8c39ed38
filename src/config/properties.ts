/**
 * Java .properties files, parsed the way java.util.Properties.load does:
 *  - lines end at \n, \r or \r\n; a line ending in an odd number of backslashes continues on the
 *    next line, whose leading whitespace is dropped;
 *  - blank lines and lines whose first non-whitespace character is # or ! are comments (a
 *    comment line is never continued);
 *  - the key ends at the first unescaped '=', ':' or whitespace; whitespace around the separator
 *    is skipped; the value is the rest of the line, trailing whitespace included (Kafka's config
 *    parsing trims values afterwards);
 *  - escapes: \t \n \r \f \uXXXX, and a backslash before any other character stands for that
 *    character (so "\=", "\:", "\ ", "\\", "\#").
 *  - a later duplicate key wins.
 * Whitespace means space, tab and form feed, as in Java.
 *
 * Files are read as UTF-8 (Java's InputStream overload reads ISO-8859-1; for the ASCII content of
 * real config files the two agree, and \uXXXX escapes work in both).
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

export class PropertiesError extends Error {
  override readonly name = 'PropertiesError';
}

const isWs = (c: string): boolean => c === ' ' || c === '\t' || c === '\f';

/** Split text into logical lines (continuations joined, comments and blank lines dropped). */
function logicalLines(text: string): string[] {
  const out: string[] = [];
  const n = text.length;
  let i = 0;
  // Strip a UTF-8 byte order mark.
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  let current: string | null = null;
  while (i < n) {
    // Read one natural line.
    let end = i;
    while (end < n && text[end] !== '\n' && text[end] !== '\r') end++;
    let line = text.slice(i, end);
    if (end < n && text[end] === '\r' && text[end + 1] === '\n') i = end + 2;
    else i = end + 1;

    // Skip leading whitespace (of the line, or of a continuation line).
    let s = 0;
    while (s < line.length && isWs(line[s]!)) s++;
    line = line.slice(s);

    if (current === null) {
      if (line.length === 0) continue;
      if (line[0] === '#' || line[0] === '!') continue;
    }

    let backslashes = 0;
    for (let k = line.length - 1; k >= 0 && line[k] === '\\'; k--) backslashes++;
    const continues = backslashes % 2 === 1;
    const body = continues ? line.slice(0, -1) : line;
    current = (current ?? '') + body;
    if (!continues) {
      out.push(current);
      current = null;
    }
  }
  if (current !== null) out.push(current);
  return out;
}

function unescape(s: string): string {
  if (!s.includes('\\')) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    i++;
    if (i >= s.length) break; // a trailing lone backslash is dropped
    const e = s[i]!;
    switch (e) {
      case 't':
        out += '\t';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 'f':
        out += '\f';
        break;
      case 'u': {
        const hex = s.slice(i + 1, i + 5);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new PropertiesError('Malformed \\uxxxx encoding.');
        out += String.fromCharCode(parseInt(hex, 16));
        i += 4;
        break;
      }
      default:
        out += e;
    }
  }
  return out;
}

/** Split a logical line into raw (still escaped) key and value. */
function splitKeyValue(line: string): [string, string] {
  let i = 0;
  let keyEnd = line.length;
  let hasSep = false;
  for (; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '=' || c === ':') {
      keyEnd = i;
      hasSep = true;
      i++;
      break;
    }
    if (isWs(c)) {
      keyEnd = i;
      i++;
      break;
    }
  }
  if (keyEnd === line.length) return [line, ''];
  // Skip whitespace, then at most one '=' or ':' (if the key ended at whitespace), then whitespace.
  while (i < line.length && isWs(line[i]!)) i++;
  if (!hasSep && i < line.length && (line[i] === '=' || line[i] === ':')) {
    i++;
    while (i < line.length && isWs(line[i]!)) i++;
  }
  return [line.slice(0, keyEnd), line.slice(i)];
}

/** Parse .properties text into an ordered map (later duplicates win). */
export function parsePropertiesMap(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of logicalLines(text)) {
    const [k, v] = splitKeyValue(line);
    const key = unescape(k);
    m.delete(key);
    m.set(key, unescape(v));
  }
  return m;
}

/** Parse .properties text into a plain object. */
export function parseProperties(text: string): Record<string, string> {
  return Object.fromEntries(parsePropertiesMap(text));
}

/** Read and parse a .properties file (synchronous: used at start-up). */
export function readPropertiesFileSync(file: string): Record<string, string> {
  return parseProperties(readFileSync(file, 'utf8'));
}

export async function readPropertiesFile(file: string): Promise<Record<string, string>> {
  return parseProperties(await readFile(file, 'utf8'));
}

function escapeText(s: string, isKey: boolean): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    const code = s.charCodeAt(i);
    switch (c) {
      case '\\':
        out += '\\\\';
        break;
      case '\t':
        out += '\\t';
        break;
      case '\n':
        out += '\\n';
        break;
      case '\r':
        out += '\\r';
        break;
      case '\f':
        out += '\\f';
        break;
      case ' ':
        out += i === 0 || isKey ? '\\ ' : ' ';
        break;
      case '=':
      case ':':
      case '#':
      case '!':
        out += `\\${c}`;
        break;
      default:
        if (code < 0x20 || code > 0x7e) out += `\\u${code.toString(16).toUpperCase().padStart(4, '0')}`;
        else out += c;
    }
  }
  return out;
}

/**
 * Format properties as java.util.Properties.store does (escaping included), with optional leading
 * comment lines. Keys keep the given order.
 */
export function formatProperties(props: Record<string, string> | Map<string, string>, comments: string[] = []): string {
  const entries = props instanceof Map ? [...props] : Object.entries(props);
  const lines = comments.map((c) => `#${c}`);
  for (const [k, v] of entries) lines.push(`${escapeText(k, true)}=${escapeText(v, false)}`);
  return lines.join('\n') + '\n';
}
