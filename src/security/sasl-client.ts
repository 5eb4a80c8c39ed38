/**
 * The client's side of SASL on a connection (kfk's client, and brokers connecting to each other): SaslHandshake v1
 * with the mechanism, then SaslAuthenticate requests carrying the mechanism's tokens (PLAIN: one; SCRAM: two,
 * and the server's signature is checked, so a server that does not hold the credential is not believed).
 * Resolves with the session lifetime (KIP-368) the broker granted; the connection re-authenticates before it ends.
 */
import { ErrorCode, KafkaError, errorName } from '../protocol/errors.js';
import type { SaslCredentials } from './client-security.js';
import { ScramClient, ScramError, scramMechanism } from './scram.js';

const SASL_HANDSHAKE = 17;
const SASL_AUTHENTICATE = 36;

/** What the exchange needs of a connection: requests of a given version. */
export interface SaslTransport {
  readonly address: string;
  versionFor(apiKey: number): number;
  request<T>(apiKey: number, body: unknown, version: number): Promise<T>;
}

interface AuthenticateResponse {
  errorCode: number;
  errorMessage: string | null;
  authBytes: Buffer;
  sessionLifetimeMs: number;
}

function authFailed(address: string, message: string): KafkaError {
  return new KafkaError(ErrorCode.SASL_AUTHENTICATION_FAILED, `authentication failed at ${address}: ${message}`);
}

/** Runs the whole exchange; throws a KafkaError (SASL_AUTHENTICATION_FAILED, UNSUPPORTED_SASL_MECHANISM, ...). */
export async function saslAuthenticate(t: SaslTransport, creds: SaslCredentials): Promise<{ sessionLifetimeMs: number }> {
  const hv = t.versionFor(SASL_HANDSHAKE);
  const av = t.versionFor(SASL_AUTHENTICATE);
  if (hv < 1 || av < 0) {
    throw new KafkaError(ErrorCode.UNSUPPORTED_VERSION, `the broker at ${t.address} does not support SaslHandshake v1 and SaslAuthenticate`);
  }
  const hs = await t.request<{ errorCode: number; mechanisms: string[] }>(SASL_HANDSHAKE, { mechanism: creds.mechanism }, hv);
  if (hs.errorCode === ErrorCode.UNSUPPORTED_SASL_MECHANISM) {
    throw new KafkaError(hs.errorCode, `the broker at ${t.address} does not enable SASL mechanism ${creds.mechanism} (enabled: ${hs.mechanisms.join(', ') || 'none'})`);
  }
  if (hs.errorCode !== ErrorCode.NONE) throw new KafkaError(hs.errorCode, `SaslHandshake at ${t.address}: ${errorName(hs.errorCode)}`);
  const step = async (token: Buffer): Promise<AuthenticateResponse> => {
    const r = await t.request<AuthenticateResponse>(SASL_AUTHENTICATE, { authBytes: token }, av);
    if (r.errorCode !== ErrorCode.NONE) throw authFailed(t.address, r.errorMessage ?? errorName(r.errorCode));
    return r;
  };
  if (creds.mechanism === 'PLAIN') {
    const r = await step(Buffer.from(`\u0000${creds.username}\u0000${creds.password}`, 'utf8'));
    return { sessionLifetimeMs: Number(r.sessionLifetimeMs ?? 0) };
  }
  const m = scramMechanism(creds.mechanism)!;
  const client = new ScramClient(m, creds.username, creds.password);
  try {
    const first = await step(Buffer.from(client.first(), 'utf8'));
    const final = await step(Buffer.from(client.final(first.authBytes.toString('utf8')), 'utf8'));
    client.verifyServerFinal(final.authBytes.toString('utf8'));
    return { sessionLifetimeMs: Number(final.sessionLifetimeMs ?? 0) };
  } catch (err) {
    if (err instanceof ScramError) throw authFailed(t.address, err.message);
    throw err;
  }
}
