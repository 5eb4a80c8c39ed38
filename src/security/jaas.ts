/**
 * sasl.jaas.config values, as Kafka's JaasConfig parses them:
 *
 *   org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="s3cret" user_alice="a";
 *
 * One login module: its class, a control flag (required, requisite, sufficient, optional) and options name=value,
 * where a value is a double-quoted string (backslash escapes) or a bare word; a ';' ends the module. Errors never
 * quote the text (it holds passwords): they say what is wrong and where.
 */

export interface JaasModule {
  readonly loginModule: string;
  readonly controlFlag: string;
  readonly options: ReadonlyMap<string, string>;
}

export const PLAIN_LOGIN_MODULE = 'org.apache.kafka.common.security.plain.PlainLoginModule';
export const SCRAM_LOGIN_MODULE = 'org.apache.kafka.common.security.scram.ScramLoginModule';

const CONTROL_FLAGS = ['required', 'requisite', 'sufficient', 'optional'];

export class JaasError extends Error {
  override readonly name = 'JaasError';
}

type Token = { kind: 'word' | 'string'; text: string } | { kind: 'punct'; text: '=' | ';' };

function tokenize(s: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '/' && s[i + 1] === '/') {
      while (i < s.length && s[i] !== '\n') i++;
    } else if (c === '/' && s[i + 1] === '*') {
      const end = s.indexOf('*/', i + 2);
      if (end < 0) throw new JaasError('unterminated /* comment');
      i = end + 2;
    } else if (c === '=' || c === ';') {
      out.push({ kind: 'punct', text: c });
      i++;
    } else if (c === '"') {
      let text = '';
      i++;
      for (;;) {
        if (i >= s.length) throw new JaasError('unterminated quoted value');
        const d = s[i++]!;
        if (d === '"') break;
        if (d === '\\' && i < s.length) {
          const e = s[i++]!;
          text += e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e;
        } else text += d;
      }
      out.push({ kind: 'string', text });
    } else {
      let text = '';
      while (i < s.length && !/[\s=;"]/.test(s[i]!)) text += s[i++];
      out.push({ kind: 'word', text });
    }
  }
  return out;
}

/** Parses a sasl.jaas.config value holding exactly one login module. Throws JaasError. */
export function parseJaasConfig(value: string): JaasModule {
  const tokens = tokenize(value);
  let i = 0;
  const next = (): Token | undefined => tokens[i++];
  const modules: JaasModule[] = [];
  while (i < tokens.length) {
    const cls = next();
    if (!cls || cls.kind !== 'word') throw new JaasError('expected a login module class name');
    const flag = next();
    if (!flag || flag.kind !== 'word' || !CONTROL_FLAGS.includes(flag.text.toLowerCase())) {
      throw new JaasError(`login module ${cls.text}: expected a control flag (${CONTROL_FLAGS.join(', ')})`);
    }
    const options = new Map<string, string>();
    for (;;) {
      const t = next();
      if (!t) throw new JaasError(`login module ${cls.text}: missing ';' at the end`);
      if (t.kind === 'punct' && t.text === ';') break;
      if (t.kind !== 'word') throw new JaasError(`login module ${cls.text}: expected an option name`);
      const eq = next();
      if (!eq || eq.kind !== 'punct' || eq.text !== '=') throw new JaasError(`login module ${cls.text}: option ${t.text} has no '=value'`);
      const v = next();
      if (!v || (v.kind !== 'word' && v.kind !== 'string')) throw new JaasError(`login module ${cls.text}: option ${t.text} has no value`);
      options.set(t.text, v.text);
    }
    modules.push({ loginModule: cls.text, controlFlag: flag.text.toLowerCase(), options });
  }
  if (modules.length !== 1) throw new JaasError(`JAAS config property contains ${modules.length} login modules, should be 1 module`);
  return modules[0]!;
}

/** The users of a PLAIN server module: its user_<name>=<password> options. */
export function plainUsers(module: JaasModule): Map<string, string> {
  const users = new Map<string, string>();
  for (const [k, v] of module.options) if (k.startsWith('user_') && k.length > 5) users.set(k.slice(5), v);
  return users;
}

/** The username and password a module logs in with (a client's, or a broker's for inter-broker connections). */
export function loginCredentials(module: JaasModule): { username: string; password: string } | null {
  const username = module.options.get('username');
  const password = module.options.get('password');
  return username !== undefined && password !== undefined ? { username, password } : null;
}
