/**
 * SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka runs them: the credential a broker stores (salt,
 * StoredKey, ServerKey, iterations: never the password), the server's two steps and the client's.
 *
 *   client-first   n,,n=<user>,r=<client nonce>[,extensions]
 *   server-first   r=<client nonce><server nonce>,s=<salt>,i=<iterations>
 *   client-final   c=biws,r=<nonce>,p=<ClientProof>
 *   server-final   v=<ServerSignature>
 *
 * SaltedPassword = PBKDF2-HMAC(password, salt, i); ClientKey = HMAC(SaltedPassword, "Client Key");
 * StoredKey = H(ClientKey); ServerKey = HMAC(SaltedPassword, "Server Key"); the proof is ClientKey xor
 * HMAC(StoredKey, AuthMessage) and is checked by hashing it back to StoredKey, in constant time.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

export type ScramMechanismName = 'SCRAM-SHA-256' | 'SCRAM-SHA-512';

export interface ScramMechanism {
  readonly name: ScramMechanismName;
  readonly hash: 'sha256' | 'sha512';
  /** Kafka's bounds on iterations (ScramMechanism: 4096 .. 16384 for AlterUserScramCredentials). */
  readonly minIterations: number;
  readonly maxIterations: number;
  /** The mechanism's id in DescribeUserScramCredentials / AlterUserScramCredentials. */
  readonly type: number;
}

export const SCRAM_MECHANISMS: ReadonlyMap<string, ScramMechanism> = new Map<string, ScramMechanism>([
  ['SCRAM-SHA-256', { name: 'SCRAM-SHA-256', hash: 'sha256', minIterations: 4096, maxIterations: 16384, type: 1 }],
  ['SCRAM-SHA-512', { name: 'SCRAM-SHA-512', hash: 'sha512', minIterations: 4096, maxIterations: 16384, type: 2 }],
]);

export function scramMechanism(name: string): ScramMechanism | undefined {
  return SCRAM_MECHANISMS.get(name);
}

export function scramMechanismByType(type: number): ScramMechanism | undefined {
  for (const m of SCRAM_MECHANISMS.values()) if (m.type === type) return m;
  return undefined;
}

/** What a broker keeps of a SCRAM password. */
export interface ScramCredential {
  readonly salt: Buffer;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
  readonly iterations: number;
}

export class ScramError extends Error {
  override readonly name = 'ScramError';
}

function hmac(m: ScramMechanism, key: Buffer, data: string | Buffer): Buffer {
  return createHmac(m.hash, key).update(data).digest();
}

function hash(m: ScramMechanism, data: Buffer): Buffer {
  return createHash(m.hash).update(data).digest();
}

export function saltedPassword(m: ScramMechanism, password: string, salt: Buffer, iterations: number): Buffer {
  return pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, createHash(m.hash).digest().length, m.hash);
}

/** A new credential for a password (a random salt unless given). */
export function makeCredential(m: ScramMechanism, password: string, iterations: number, salt: Buffer = randomBytes(32)): ScramCredential {
  return credentialFromSaltedPassword(m, saltedPassword(m, password, salt, iterations), salt, iterations);
}

/** The credential from a salted password (AlterUserScramCredentials sends salt and salted password, not the password). */
export function credentialFromSaltedPassword(m: ScramMechanism, salted: Buffer, salt: Buffer, iterations: number): ScramCredential {
  const clientKey = hmac(m, salted, 'Client Key');
  return { salt, storedKey: hash(m, clientKey), serverKey: hmac(m, salted, 'Server Key'), iterations };
}

/** Kafka's ScramCredentialUtils.credentialToString: salt=..,stored_key=..,server_key=..,iterations=.. */
export function credentialToString(c: ScramCredential): string {
  return `salt=${c.salt.toString('base64')},stored_key=${c.storedKey.toString('base64')},server_key=${c.serverKey.toString('base64')},iterations=${c.iterations}`;
}

export function credentialFromString(s: string): ScramCredential {
  const props = new Map<string, string>();
  for (const token of s.split(',')) {
    const i = token.indexOf('=');
    if (i <= 0) throw new ScramError('Credentials not valid');
    props.set(token.slice(0, i), token.slice(i + 1));
  }
  const salt = props.get('salt');
  const storedKey = props.get('stored_key');
  const serverKey = props.get('server_key');
  const iterations = props.get('iterations');
  if (props.size !== 4 || salt === undefined || storedKey === undefined || serverKey === undefined || iterations === undefined || !/^\d+$/.test(iterations)) {
    throw new ScramError('Credentials not valid');
  }
  return { salt: Buffer.from(salt, 'base64'), storedKey: Buffer.from(storedKey, 'base64'), serverKey: Buffer.from(serverKey, 'base64'), iterations: Number(iterations) };
}

/** A printable nonce (no ','), as Kafka's ScramFormatter.secureRandomString. */
export function nonce(): string {
  return randomBytes(24).toString('base64url');
}

/** RFC 5802 saslname: '=' → '=3D', ',' → '=2C'. */
export function encodeSaslName(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

export function decodeSaslName(saslName: string): string {
  if (/=(?!2C|3D)/.test(saslName)) throw new ScramError('Invalid username');
  return saslName.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

// ---- messages ----------------------------------------------------------------------------------

export interface ClientFirst {
  readonly authorizationId: string;
  readonly username: string;
  readonly nonce: string;
  readonly extensions: ReadonlyMap<string, string>;
  /** The message without its GS2 header: part of the AuthMessage. */
  readonly bare: string;
  readonly gs2Header: string;
}

/** Parses client-first-message (Kafka's ClientFirstMessage: no channel binding, an optional authzid). */
export function parseClientFirst(message: string): ClientFirst {
  const m = /^n,(a=([^,]*))?,(n=([^,]*),r=([\x21-\x2b\x2d-\x7e]+)((?:,[A-Za-z]+=[^,]*)*))$/.exec(message);
  if (!m) throw new ScramError('Invalid SCRAM client first message format');
  const extensions = new Map<string, string>();
  for (const ext of (m[6] ?? '').split(',').filter((e) => e !== '')) {
    const i = ext.indexOf('=');
    extensions.set(ext.slice(0, i), ext.slice(i + 1));
  }
  return {
    authorizationId: m[2] ?? '',
    username: decodeSaslName(m[4]!),
    nonce: m[5]!,
    extensions,
    bare: m[3]!,
    gs2Header: message.slice(0, message.length - m[3]!.length),
  };
}

export interface ServerFirst {
  readonly nonce: string;
  readonly salt: Buffer;
  readonly iterations: number;
  readonly message: string;
}

export function serverFirstMessage(combinedNonce: string, salt: Buffer, iterations: number): string {
  return `r=${combinedNonce},s=${salt.toString('base64')},i=${iterations}`;
}

export function parseServerFirst(message: string): ServerFirst {
  const m = /^(?:m=[^,]*,)?r=([\x21-\x2b\x2d-\x7e]+),s=([A-Za-z0-9+/=]+),i=(\d+)(?:,.*)?$/.exec(message);
  if (!m) {
    const e = /^e=(.*)$/.exec(message);
    throw new ScramError(e ? `server error: ${e[1]}` : 'Invalid SCRAM server first message format');
  }
  return { nonce: m[1]!, salt: Buffer.from(m[2]!, 'base64'), iterations: Number(m[3]), message };
}

export interface ClientFinal {
  readonly channelBinding: string;
  readonly nonce: string;
  readonly proof: Buffer;
  readonly withoutProof: string;
}

export function parseClientFinal(message: string): ClientFinal {
  const m = /^(c=([A-Za-z0-9+/=]*),r=([\x21-\x2b\x2d-\x7e]+)(?:,[A-Za-z]+=[^,]*)*),p=([A-Za-z0-9+/=]+)$/.exec(message);
  if (!m) throw new ScramError('Invalid SCRAM client final message format');
  return { withoutProof: m[1]!, channelBinding: m[2]!, nonce: m[3]!, proof: Buffer.from(m[4]!, 'base64') };
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

export function authMessage(clientFirstBare: string, serverFirst: string, clientFinalWithoutProof: string): string {
  return `${clientFirstBare},${serverFirst},${clientFinalWithoutProof}`;
}

/** Checks a client proof against a credential, in constant time. */
export function verifyClientProof(m: ScramMechanism, credential: ScramCredential, auth: string, proof: Buffer): boolean {
  const signature = hmac(m, credential.storedKey, auth);
  if (proof.length !== signature.length) return false;
  const storedKey = hash(m, xor(proof, signature));
  return storedKey.length === credential.storedKey.length && timingSafeEqual(storedKey, credential.storedKey);
}

export function serverSignature(m: ScramMechanism, serverKey: Buffer, auth: string): Buffer {
  return hmac(m, serverKey, auth);
}

// ---- the client's side ------------------------------------------------------------------------

/** One client exchange: first() → server-first → final() → server-final → verifyServerFinal(). */
export class ScramClient {
  private bare = '';
  private expectedServerSignature: Buffer | null = null;

  constructor(
    private readonly m: ScramMechanism,
    private readonly username: string,
    private readonly password: string,
    private readonly extensions: ReadonlyMap<string, string> = new Map(),
    /** Fixed only by tests (RFC test vectors). */
    private readonly clientNonce: string = nonce(),
  ) {}

  first(): string {
    const ext = [...this.extensions].map(([k, v]) => `,${k}=${v}`).join('');
    this.bare = `n=${encodeSaslName(this.username)},r=${this.clientNonce}${ext}`;
    return `n,,${this.bare}`;
  }

  final(serverFirst: string): string {
    const sf = parseServerFirst(serverFirst);
    if (!sf.nonce.startsWith(this.clientNonce) || sf.nonce.length === this.clientNonce.length) throw new ScramError('Invalid server nonce');
    if (sf.iterations < this.m.minIterations) throw new ScramError(`Requested iterations ${sf.iterations} is less than the minimum ${this.m.minIterations} for ${this.m.name}`);
    const salted = saltedPassword(this.m, this.password, sf.salt, sf.iterations);
    const clientKey = hmac(this.m, salted, 'Client Key');
    const withoutProof = `c=biws,r=${sf.nonce}`;
    const auth = authMessage(this.bare, sf.message, withoutProof);
    const proof = xor(clientKey, hmac(this.m, hash(this.m, clientKey), auth));
    this.expectedServerSignature = hmac(this.m, hmac(this.m, salted, 'Server Key'), auth);
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** Checks the server's signature: a server that does not know the credential cannot forge it. */
  verifyServerFinal(serverFinal: string): void {
    const e = /^e=(.*)$/.exec(serverFinal);
    if (e) throw new ScramError(`server error: ${e[1]}`);
    const v = /^v=([A-Za-z0-9+/=]+)(?:,.*)?$/.exec(serverFinal);
    if (!v || this.expectedServerSignature === null) throw new ScramError('Invalid SCRAM server final message format');
    const got = Buffer.from(v[1]!, 'base64');
    if (got.length !== this.expectedServerSignature.length || !timingSafeEqual(got, this.expectedServerSignature)) {
      throw new ScramError('Invalid server signature in server final message');
    }
  }
}
