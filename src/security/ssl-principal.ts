/**
 * The principal of a client certificate (mutual TLS), as Kafka's DefaultKafkaPrincipalBuilder makes it: the
 * certificate's subject in Java's RFC 2253 form (X500Principal.getName(), e.g. "CN=alice,OU=eng,O=acme,C=US"),
 * mapped by ssl.principal.mapping.rules (SslPrincipalMapper), becomes User:<result>.
 *
 * Java's form is rebuilt from the certificate's DER, not from Node's subject string, so that rules written for
 * Kafka match exactly: RDNs last to first, multi-valued RDNs joined by '+', the RFC 2253 keywords (CN, C, L, ST,
 * O, OU, STREET, DC, UID) and every other attribute as its OID with the value as '#' + hex DER; values escaped
 * as Java escapes them (",=+<>#;\"\\" anywhere, leading and trailing spaces).
 */
import { Tag, children, directoryString, expectTag, oidString, parseDer, type DerNode } from './der.js';

const RFC2253_KEYWORDS: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.9': 'STREET',
  '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.1': 'UID',
};

/** The subject Name of a DER certificate. */
function subjectOf(certDer: Buffer): DerNode {
  const cert = expectTag(parseDer(certDer), Tag.SEQUENCE, 'certificate');
  const tbs = expectTag(children(cert)[0], Tag.SEQUENCE, 'tbsCertificate');
  const fields = children(tbs);
  // [0] EXPLICIT version is optional; then serialNumber, signature, issuer, validity, subject.
  const start = fields[0]?.tag === 0xa0 ? 1 : 0;
  return expectTag(fields[start + 4], Tag.SEQUENCE, 'subject');
}

/** Java's escaping of an attribute value in an RFC 2253 name (sun.security.x509.AVA.toRFC2253String). */
function escapeValue(value: string): string {
  let out = '';
  for (const ch of value) {
    if (',=+<>#;"\\'.includes(ch)) out += `\\${ch}`;
    else if (ch === '\u0000') out += '\\00';
    else out += ch;
  }
  // leading and trailing spaces (and CR) are escaped too
  const chars = [...out];
  let lead = 0;
  while (lead < chars.length && (chars[lead] === ' ' || chars[lead] === '\r')) lead++;
  let trail = chars.length - 1;
  while (trail >= 0 && (chars[trail] === ' ' || chars[trail] === '\r')) trail--;
  return chars.map((c, i) => (i < lead || i > trail ? `\\${c}` : c)).join('');
}

function attributeString(atv: DerNode): string {
  const [typeNode, valueNode] = children(expectTag(atv, Tag.SEQUENCE, 'AttributeTypeAndValue'));
  const oid = oidString(expectTag(typeNode, Tag.OID, 'attribute type'));
  if (valueNode === undefined) throw new Error('attribute without a value');
  const keyword = RFC2253_KEYWORDS[oid];
  const text = keyword !== undefined ? directoryString(valueNode) : null;
  if (keyword === undefined || text === null) return `${keyword ?? oid}=#${valueNode.encoded.toString('hex')}`;
  return `${keyword}=${escapeValue(text)}`;
}

/** The subject of a DER certificate as Java's X500Principal.getName() (RFC 2253). */
export function rfc2253Subject(certDer: Buffer): string {
  const rdns = children(subjectOf(certDer)).map((rdn) => children(expectTag(rdn, Tag.SET, 'RelativeDistinguishedName')).map(attributeString).join('+'));
  return rdns.reverse().join(',');
}

// ---- ssl.principal.mapping.rules --------------------------------------------------------------

interface MappingRule {
  readonly isDefault: boolean;
  readonly pattern?: string;
  readonly replacement?: string;
  readonly toLowerCase?: boolean;
  readonly toUpperCase?: boolean;
}

// Kafka's RULE_PATTERN: DEFAULT | RULE:pattern/replacement/[LU] | anything (an invalid rule, reported below)
const RULE_PATTERN = String.raw`(DEFAULT)|RULE:((\\.|[^\\/])*)/((\\.|[^\\/])*)/([LU]?).*?|(.*?)`;

/** Splits the rule list as Kafka's RULE_SPLITTER does (rules separated by commas outside a RULE's slashes). */
function splitRules(rules: string): string[] {
  const splitter = new RegExp(String.raw`\s*(${RULE_PATTERN})\s*(,\s*|$)`, 'gy');
  const text = rules.trim();
  const out: string[] = [];
  let pos = 0;
  while (pos <= text.length) {
    splitter.lastIndex = pos;
    const m = splitter.exec(text);
    if (m === null) {
      pos++;
      continue;
    }
    out.push(m[1]!);
    pos = m[0].length === 0 ? pos + 1 : splitter.lastIndex;
  }
  return out;
}

/** Java's replacement syntax ($n groups, backslash escapes) in JavaScript's ($n, $$ for a dollar). */
function javaReplacement(replacement: string, groups: number): string {
  let out = '';
  for (let i = 0; i < replacement.length; i++) {
    const c = replacement[i]!;
    if (c === '\\' && i + 1 < replacement.length) {
      const next = replacement[++i]!;
      out += next === '$' ? '$$' : next;
    } else if (c === '$') {
      const digits = /^\d+/.exec(replacement.slice(i + 1))?.[0] ?? '';
      // a reference beyond the groups is cut to the longest valid prefix, or kept literally (Kafka's rule)
      let n = digits;
      while (n.length > 1 && Number(n) > groups) n = n.slice(0, -1);
      if (n !== '' && !n.startsWith('0') && Number(n) <= groups) {
        out += `$${n}`;
        i += n.length;
      } else out += '$$';
    } else out += c;
  }
  return out;
}

/** Kafka's SslPrincipalMapper: maps a certificate's RFC 2253 subject to a principal name. */
export class SslPrincipalMapper {
  private readonly rules: MappingRule[];

  constructor(readonly source: string) {
    this.rules = [];
    for (const rule of splitRules(source)) {
      const m = new RegExp(`^(?:${RULE_PATTERN})`).exec(rule);
      if (m === null || m[0].length !== rule.length) throw new Error(`Invalid rule: ${rule}`);
      if (m[1] !== undefined) this.rules.push({ isDefault: true });
      else if (m[2] !== undefined) {
        const pattern = m[2];
        try {
          new RegExp(pattern);
        } catch (err) {
          throw new Error(`Invalid rule: ${rule} (${(err as Error).message})`);
        }
        this.rules.push({ isDefault: false, pattern, replacement: m[4] ?? '', toLowerCase: m[6] === 'L', toUpperCase: m[6] === 'U' });
      } else if (rule.trim() !== '') throw new Error(`Invalid rule: ${rule}`);
    }
  }

  /** As Kafka prints it: SslPrincipalMapper(rules = [RULE:pattern/replacement/L, DEFAULT]). */
  toString(): string {
    const rules = this.rules.map((r) => (r.isDefault ? 'DEFAULT' : `RULE:${r.pattern}/${r.replacement}${r.toLowerCase ? '/L' : r.toUpperCase ? '/U' : ''}`));
    return `SslPrincipalMapper(rules = [${rules.join(', ')}])`;
  }

  /** The principal name for a subject; throws when no rule applies (the connection is then refused, as Kafka does). */
  name(distinguishedName: string): string {
    for (const r of this.rules) {
      if (r.isDefault) return distinguishedName;
      const whole = new RegExp(`^(?:${r.pattern!})$`);
      const m = whole.exec(distinguishedName);
      if (m === null) continue;
      const groups = m.length - 1;
      let result = distinguishedName.replace(new RegExp(r.pattern!, 'g'), javaReplacement(r.replacement!, groups));
      if (r.toLowerCase) result = result.toLowerCase();
      else if (r.toUpperCase) result = result.toUpperCase();
      return result;
    }
    throw new Error(`No rules apply to ${distinguishedName}, rules ${this.source}`);
  }
}
