/** What a handler sees of a request besides its body. */
import type { Socket } from 'node:net';
import type { KafkaPrincipal } from '../security/principal.js';

export interface RequestContext {
  readonly apiKey: number;
  readonly apiVersion: number;
  readonly correlationId: number;
  readonly clientId: string | null;
  /** Remote address as host:port, for logs and group member hosts. */
  readonly clientHost: string;
  readonly listenerName: string;
  readonly socket: Socket;
  /** Who sent it: the SASL user, the TLS client certificate's principal, or User:ANONYMOUS. */
  readonly principal: KafkaPrincipal;
  /** The client's IP address (IPv4-mapped IPv6 as IPv4), as ACL hosts name it. */
  readonly clientAddress: string;
}

/** A handler returns this to send no response (Produce with acks=0). */
export const NO_RESPONSE: unique symbol = Symbol('no response');
export type HandlerResult<T> = T | typeof NO_RESPONSE | Promise<T | typeof NO_RESPONSE>;

/**
 * Thrown by a handler to close the connection without a response (Kafka closes the channel,
 * for example when an acks=0 produce fails, or on a request it cannot parse).
 */
export class CloseConnection extends Error {}

export interface ApiHandler<Req = any, Res = any> {
  readonly apiKey: number;
  /** Versions served; ApiVersions advertises exactly these. */
  readonly minVersion: number;
  readonly maxVersion: number;
  handle(request: Req, ctx: RequestContext): HandlerResult<Res>;
}
