/**
 * The broker's side of SASL on one connection, as Kafka's SaslServerAuthenticator:
 *
 *   [ApiVersions]* → SaslHandshake (mechanism) → tokens until the mechanism completes → requests
 *
 * - SaslHandshake v0: the tokens that follow are raw size-prefixed frames (kafka-python 2.0); v1: they travel in
 *   SaslAuthenticate requests (librdkafka, kafkajs, Java), whose responses carry session_lifetime_ms.
 * - Mechanisms: PLAIN (users from the listener's JAAS line, user_<name>="<password>") and SCRAM-SHA-256/512
 *   (credentials from the registry's /config/users). Anything but ApiVersions and SaslHandshake before
 *   authentication closes the connection, as in Kafka.
 * - A failure is answered (SASL_AUTHENTICATION_FAILED with Kafka's messages, which never say whether the user
 *   exists) after connection.failed.authentication.delay.ms, and the connection closed; the reason is logged.
 * - KIP-368: with connections.max.reauth.ms the session ends that long after authentication; the client
 *   re-authenticates on the same connection (SaslHandshake then SaslAuthenticate, same mechanism, same principal),
 *   at most once a second; any other request after the end closes the connection.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Reader } from '../protocol/primitives.js';
import { API_CODECS, requestHeaderVersion } from '../protocol/generated/apis.js';
import { readRequestHeader } from '../protocol/generated/request-header.js';
import { ErrorCode } from '../protocol/errors.js';
import { encodeResponse } from '../server/request-runner.js';
import type { AuthStep, ConnectionAuthenticator } from '../server/authenticator.js';
import { ANONYMOUS, samePrincipal, userPrincipal, type KafkaPrincipal } from './principal.js';
import {
  ScramError,
  authMessage,
  nonce,
  parseClientFinal,
  parseClientFirst,
  scramMechanism,
  serverFirstMessage,
  serverSignature,
  verifyClientProof,
  type ScramCredential,
  type ScramMechanism,
} from './scram.js';

const API_VERSIONS = 18;
const SASL_HANDSHAKE = 17;
const SASL_AUTHENTICATE = 36;
const MIN_REAUTH_INTERVAL_MS = 1000;

/** PLAIN users of a listener: only a keyed hash of each password is kept in memory, compared in constant time. */
export class PlainUsers {
  private readonly key = randomBytes(32);
  private readonly digests = new Map<string, Buffer>();

  constructor(users: ReadonlyMap<string, string>) {
    for (const [user, password] of users) this.digests.set(user, this.digest(password));
  }

  private digest(password: string): Buffer {
    return createHmac('sha256', this.key).update(password, 'utf8').digest();
  }

  get size(): number {
    return this.digests.size;
  }

  verify(user: string, password: string): boolean {
    const expected = this.digests.get(user);
    const given = this.digest(password);
    // an unknown user costs the same comparison as a known one
    return timingSafeEqual(expected ?? this.digest(randomBytes(16).toString('hex')), given) && expected !== undefined;
  }
}

/** SCRAM credentials by user and mechanism (the registry's /config/users, kept current by the broker). */
export interface ScramCredentialSource {
  credential(user: string, mechanism: string): ScramCredential | undefined;
}

export interface SaslServerConfig {
  readonly listenerName: string;
  /** Enabled mechanisms, as the handshake lists them. */
  readonly mechanisms: readonly string[];
  readonly plainUsers: PlainUsers | null;
  readonly scramCredentials: ScramCredentialSource;
  /** connections.max.reauth.ms (0: sessions do not expire). */
  readonly reauthMs: number;
  /** sasl.server.max.receive.size: the largest frame before authentication. */
  readonly maxReceiveBytes: number;
  /** connection.failed.authentication.delay.ms */
  readonly failedAuthenticationDelayMs: number;
  /** A secret for the salts shown to unknown SCRAM users (so that their exchange looks like a real one). */
  readonly fakeSaltKey: Buffer;
  readonly now?: () => number;
}

class AuthFailure extends Error {
  constructor(
    /** Sent to the client (SaslAuthenticate error_message); never names a user's existence or a password. */
    readonly clientMessage: string,
    /** Logged. */
    readonly logReason: string = clientMessage,
  ) {
    super(logReason);
  }
}

interface Exchange {
  /** The next server token, or throws AuthFailure. */
  evaluate(token: Buffer): Buffer;
  readonly complete: boolean;
  /** The authenticated user, once complete. */
  readonly user: string;
}

class PlainExchange implements Exchange {
  complete = false;
  user = '';
  constructor(private readonly users: PlainUsers | null) {}

  evaluate(token: Buffer): Buffer {
    // [authzid] NUL authcid NUL passwd (RFC 4616)
    const parts = token.toString('utf8').split('\u0000');
    if (parts.length !== 3) throw new AuthFailure('Invalid SASL/PLAIN response: expected 3 tokens, got ' + parts.length);
    const [authzid, username, password] = parts as [string, string, string];
    if (username === '') throw new AuthFailure('Authentication failed: username not specified');
    if (password === '') throw new AuthFailure('Authentication failed: password not specified');
    if (authzid !== '' && authzid !== username) {
      throw new AuthFailure('Authentication failed: Client requested an authorization id that is different from username');
    }
    if (this.users === null || !this.users.verify(username, password)) {
      throw new AuthFailure('Authentication failed: Invalid username or password', `invalid username or password for user ${JSON.stringify(username)}`);
    }
    this.user = username;
    this.complete = true;
    return Buffer.alloc(0);
  }
}

class ScramExchange implements Exchange {
  complete = false;
  user = '';
  private step: 'first' | 'final' | 'done' = 'first';
  private credential: ScramCredential | null = null;
  private clientFirstBare = '';
  private serverFirst = '';
  private combinedNonce = '';
  private readonly genericFailure: string;

  constructor(
    private readonly m: ScramMechanism,
    private readonly source: ScramCredentialSource,
    private readonly fakeSaltKey: Buffer,
  ) {
    this.genericFailure = `Authentication failed during authentication due to invalid credentials with SASL mechanism ${m.name}`;
  }

  evaluate(token: Buffer): Buffer {
    try {
      if (this.step === 'first') return this.first(token.toString('utf8'));
      if (this.step === 'final') return this.final(token.toString('utf8'));
      throw new AuthFailure(this.genericFailure, 'unexpected SCRAM message after completion');
    } catch (err) {
      if (err instanceof AuthFailure) throw err;
      throw new AuthFailure(this.genericFailure, (err as Error).message);
    }
  }

  private first(message: string): Buffer {
    const cf = parseClientFirst(message);
    if (cf.extensions.get('tokenauth') === 'true') throw new ScramError('delegation tokens are not supported');
    if (cf.authorizationId !== '' && cf.authorizationId !== cf.username) {
      throw new AuthFailure('Authentication failed: Client requested an authorization id that is different from username');
    }
    this.user = cf.username;
    this.clientFirstBare = cf.bare;
    this.combinedNonce = cf.nonce + nonce();
    const credential = this.source.credential(cf.username, this.m.name) ?? null;
    if (credential !== null && credential.iterations < this.m.minIterations) {
      throw new ScramError(`Iterations ${credential.iterations} is less than the minimum ${this.m.minIterations} for ${this.m.name}`);
    }
    this.credential = credential;
    // An unknown user gets a salt that is stable per name (as a real one would be) and fails at the proof,
    // so the exchange does not tell whether the user exists.
    const salt = credential?.salt ?? createHmac('sha256', this.fakeSaltKey).update(cf.username).digest();
    this.serverFirst = serverFirstMessage(this.combinedNonce, salt, credential?.iterations ?? 4096);
    this.step = 'final';
    return Buffer.from(this.serverFirst, 'utf8');
  }

  private final(message: string): Buffer {
    const cf = parseClientFinal(message);
    // Kafka checks that the nonce ends with the combined one (librdkafka 2.0 sends the client nonce twice)
    if (!cf.nonce.endsWith(this.combinedNonce)) throw new ScramError('Invalid client nonce in the final client message.');
    const auth = authMessage(this.clientFirstBare, this.serverFirst, cf.withoutProof);
    const credential = this.credential;
    if (credential === null) throw new AuthFailure(this.genericFailure, `unknown SCRAM user ${JSON.stringify(this.user)}`);
    if (!verifyClientProof(this.m, credential, auth, cf.proof)) {
      throw new AuthFailure(this.genericFailure, `invalid ${this.m.name} proof for user ${JSON.stringify(this.user)}`);
    }
    this.step = 'done';
    this.complete = true;
    return Buffer.from(`v=${serverSignature(this.m, credential.serverKey, auth).toString('base64')}`, 'utf8');
  }
}

type State = 'handshake' | 'authenticate' | 'complete' | 'failed';

export class SaslServerAuthenticator implements ConnectionAuthenticator {
  private state: State = 'handshake';
  private kafkaHeaders = false;
  private mechanism: string | null = null;
  private exchange: Exchange | null = null;
  private current: KafkaPrincipal = ANONYMOUS;
  /** During a re-authentication: the principal and mechanism that must not change. */
  private previous: { principal: KafkaPrincipal; mechanism: string } | null = null;
  private sessionEnd: number | null = null;
  /** session_lifetime_ms of the authentication that just completed. */
  private lifetimeMs = 0;
  private lastReauthStart = 0;
  private readonly now: () => number;

  constructor(private readonly config: SaslServerConfig) {
    this.now = config.now ?? Date.now;
  }

  get principal(): KafkaPrincipal {
    return this.current;
  }

  /** The mechanism of the current (or last) authentication. */
  get saslMechanism(): string | null {
    return this.mechanism;
  }

  wants(frame: Buffer): boolean {
    if (this.state !== 'complete') return true;
    if (frame.length < 2 || frame.readInt16BE(0) !== SASL_HANDSHAKE) return false;
    // Without a session end there is no re-authentication: the handshake goes on as a request and gets
    // ILLEGAL_SASL_STATE; so does one within a second of the previous re-authentication (Kafka's limit).
    const now = this.now();
    if (this.sessionEnd === null || now - this.lastReauthStart < MIN_REAUTH_INTERVAL_MS) return false;
    this.lastReauthStart = now;
    this.previous = { principal: this.current, mechanism: this.mechanism! };
    this.state = 'handshake';
    this.kafkaHeaders = false;
    this.exchange = null;
    return true;
  }

  get maxReceiveBytes(): number | null {
    return this.state === 'complete' ? null : this.config.maxReceiveBytes;
  }

  expired(now: number): boolean {
    return this.sessionEnd !== null && now > this.sessionEnd;
  }

  handle(frame: Buffer): AuthStep {
    try {
      if (this.state === 'handshake') return this.handshake(frame);
      if (this.state === 'authenticate') return this.authenticate(frame);
      return this.fail(null, `unexpected SASL frame in state ${this.state}`);
    } catch (err) {
      return this.fail(null, `malformed SASL request: ${(err as Error).message}`);
    }
  }

  private fail(response: Buffer | null, reason: string): AuthStep {
    this.state = 'failed';
    return { response, failure: { reason, delayMs: this.config.failedAuthenticationDelayMs } };
  }

  private handshake(frame: Buffer): AuthStep {
    if (frame.length < 8) return this.fail(null, 'unexpected data before the SASL handshake');
    const apiKey = frame.readInt16BE(0);
    const version = frame.readInt16BE(2);
    const correlationId = frame.readInt32BE(4);
    if (apiKey === API_VERSIONS && this.previous === null) return { response: null, passThrough: true };
    if (apiKey !== SASL_HANDSHAKE) {
      // Kafka: IllegalSaslStateException "Unexpected Kafka request of type X during SASL handshake", no response
      return this.fail(null, `unexpected request (API key ${apiKey}) during the SASL handshake`);
    }
    const codec = API_CODECS.get(SASL_HANDSHAKE)!;
    if (version < 0 || version > 1) return this.fail(null, `unsupported SaslHandshake version ${version}`);
    const r = new Reader(frame);
    readRequestHeader(r, requestHeaderVersion(SASL_HANDSHAKE, version));
    const { mechanism } = codec.readRequest(r, version) as { mechanism: string };
    const mechanisms = [...this.config.mechanisms];
    const answer = (errorCode: number) => encodeResponse(codec, version, correlationId, { errorCode, mechanisms });
    if (!this.config.mechanisms.includes(mechanism)) {
      return this.fail(answer(ErrorCode.UNSUPPORTED_SASL_MECHANISM), `unsupported SASL mechanism ${JSON.stringify(mechanism)}`);
    }
    if (this.previous !== null && this.previous.mechanism !== mechanism) {
      // Kafka answers the handshake, then fails the re-authentication (REAUTH_BAD_MECHANISM)
      this.state = 'authenticate';
      this.kafkaHeaders = version >= 1;
      this.exchange = null;
      this.mechanism = mechanism;
      return { response: answer(ErrorCode.NONE) };
    }
    const scram = scramMechanism(mechanism);
    this.exchange = scram ? new ScramExchange(scram, this.config.scramCredentials, this.config.fakeSaltKey) : new PlainExchange(this.config.plainUsers);
    this.mechanism = mechanism;
    this.kafkaHeaders = version >= 1;
    this.state = 'authenticate';
    return { response: answer(ErrorCode.NONE) };
  }

  private authenticate(frame: Buffer): AuthStep {
    if (!this.kafkaHeaders) {
      // SaslHandshake v0: the token is the frame itself, the answer a size-prefixed token; a failure has no response.
      const result = this.evaluate(frame);
      if ('failure' in result) return this.fail(null, result.failure.logReason);
      return { response: sizePrefixed(result.token) };
    }
    if (frame.length < 8) return this.fail(null, 'truncated request during SASL authentication');
    const apiKey = frame.readInt16BE(0);
    const version = frame.readInt16BE(2);
    const correlationId = frame.readInt32BE(4);
    if (apiKey !== SASL_AUTHENTICATE) return this.fail(null, `unexpected request (API key ${apiKey}) during SASL authentication`);
    if (version < 0 || version > 2) return this.fail(null, `unsupported SaslAuthenticate version ${version}`);
    const codec = API_CODECS.get(SASL_AUTHENTICATE)!;
    const r = new Reader(frame);
    readRequestHeader(r, requestHeaderVersion(SASL_AUTHENTICATE, version));
    const { authBytes } = codec.readRequest(r, version) as { authBytes: Buffer };
    const result = this.evaluate(authBytes);
    if ('failure' in result) {
      const body = { errorCode: ErrorCode.SASL_AUTHENTICATION_FAILED, errorMessage: result.failure.clientMessage, authBytes: Buffer.alloc(0), sessionLifetimeMs: 0 };
      return this.fail(encodeResponse(codec, version, correlationId, body), result.failure.logReason);
    }
    const sessionLifetimeMs = this.state === 'complete' ? this.lifetimeMs : 0;
    return { response: encodeResponse(codec, version, correlationId, { errorCode: ErrorCode.NONE, errorMessage: null, authBytes: result.token, sessionLifetimeMs }) };
  }

  private evaluate(token: Buffer): { token: Buffer } | { failure: AuthFailure } {
    const ex = this.exchange;
    if (ex === null) {
      const bad = `SASL mechanism '${this.mechanism}' requested by client is not supported for re-authentication of mechanism '${this.previous?.mechanism}'`;
      return { failure: new AuthFailure(bad) };
    }
    let out: Buffer;
    try {
      out = ex.evaluate(token);
    } catch (err) {
      return { failure: err instanceof AuthFailure ? err : new AuthFailure('Authentication failed', (err as Error).message) };
    }
    if (ex.complete) {
      const principal = userPrincipal(ex.user);
      if (this.previous !== null && !samePrincipal(this.previous.principal, principal)) {
        const p = this.previous.principal;
        return { failure: new AuthFailure(`Cannot change principals during re-authentication from ${p.principalType}.${p.name}: ${principal.principalType}.${principal.name}`) };
      }
      this.current = principal;
      this.previous = null;
      this.state = 'complete';
      this.lifetimeMs = this.startSession();
    }
    return { token: out };
  }

  /** Starts the session's clock (KIP-368); returns its lifetime for the client, 0 when it does not expire. */
  private startSession(): number {
    const reauth = this.config.reauthMs;
    if (reauth <= 0) {
      this.sessionEnd = null;
      return 0;
    }
    this.sessionEnd = this.now() + reauth;
    return reauth;
  }
}

function sizePrefixed(token: Buffer): Buffer {
  const out = Buffer.allocUnsafe(4 + token.length);
  out.writeInt32BE(token.length, 0);
  token.copy(out, 4);
  return out;
}
