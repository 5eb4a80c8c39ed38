/**
 * Kafka's principals: who a connection is, as ACLs name it ("User:alice"). A PLAINTEXT connection, or an SSL one
 * without a client certificate, is User:ANONYMOUS (KafkaPrincipal.ANONYMOUS).
 */

export interface KafkaPrincipal {
  readonly principalType: string;
  readonly name: string;
}

export const USER_TYPE = 'User';

export const ANONYMOUS: KafkaPrincipal = Object.freeze({ principalType: USER_TYPE, name: 'ANONYMOUS' });

export function userPrincipal(name: string): KafkaPrincipal {
  return { principalType: USER_TYPE, name };
}

/** "User:alice", as Kafka's KafkaPrincipal.toString. */
export function principalString(p: KafkaPrincipal): string {
  return `${p.principalType}:${p.name}`;
}

/** Parses "Type:name" (SecurityUtils.parseKafkaPrincipal): the type is everything before the first ':'. */
export function parsePrincipal(s: string): KafkaPrincipal {
  const i = s.indexOf(':');
  if (i <= 0 || i === s.length - 1) {
    throw new Error(`expected a string in format principalType:principalName but got ${s}`);
  }
  return { principalType: s.slice(0, i), name: s.slice(i + 1) };
}

export function samePrincipal(a: KafkaPrincipal, b: KafkaPrincipal): boolean {
  return a.principalType === b.principalType && a.name === b.name;
}
