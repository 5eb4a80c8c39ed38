/**
 * What a Connection asks of an authenticator (SASL, src/security/sasl-server.ts) before and between requests. The
 * connection stays transport-only: it hands frames over while the authenticator wants them, writes what it
 * answers, and on a failure waits, writes the failure response and closes, as Kafka's Selector does.
 */
import type { KafkaPrincipal } from '../security/principal.js';

export interface AuthStep {
  /** A frame (size-prefixed) to write, or null. */
  readonly response: Buffer | null;
  /** The frame is an ordinary request allowed before authentication (ApiVersions): the request runner answers it. */
  readonly passThrough?: boolean;
  /**
   * Authentication failed: after `delayMs` (connection.failed.authentication.delay.ms) the response is written and
   * the connection closed; nothing else is read or answered meanwhile. `reason` is logged, never sent as is.
   */
  readonly failure?: { readonly reason: string; readonly delayMs: number };
}

export interface ConnectionAuthenticator {
  /** Whether this frame is for the authenticator: everything before authentication, a SaslHandshake after it. */
  wants(frame: Buffer): boolean;
  handle(frame: Buffer): AuthStep | Promise<AuthStep>;
  /** The authenticated session has reached connections.max.reauth.ms: a request other than SaslHandshake closes. */
  expired(now: number): boolean;
  /** The authenticated principal (ANONYMOUS until authentication completes). */
  readonly principal: KafkaPrincipal;
  /** The largest frame accepted now: sasl.server.max.receive.size before authentication, null after. */
  readonly maxReceiveBytes: number | null;
}
