/**
 * Runs one request frame: header and body decoding, the handler, response encoding. It is the one place
 * where a request can fail, and it owns every failure, synchronous or not:
 *
 * - a frame that cannot be decoded (unknown API key, unsupported version, truncated or malformed header or
 *   body) closes the connection, as Kafka does; ApiVersions of an unknown version is answered (KIP-511);
 * - a handler that throws or rejects, or a response that cannot be encoded, gets the API's error response
 *   (error-response.ts: UNKNOWN_SERVER_ERROR, or the code of a KafkaError) when the API has one, otherwise the
 *   connection is closed;
 * - each failure is logged once, with the API name, key, version, correlation id, client id and client address.
 *
 * run() returns an Outcome or a promise of one and never throws or rejects: every path that could is wrapped,
 * and the wrappers' own fallback is closing the connection. A new handler therefore cannot bring back an
 * unhandled rejection; it can at worst be answered with an error. Connection still attaches a last-resort
 * catch, which nothing is expected to reach.
 */
import { Reader, Writer, ProtocolError, SplicingWriter, measureSpliced } from '../protocol/primitives.js';
import { API_CODECS, requestHeaderVersion, responseHeaderVersion, type ApiCodec } from '../protocol/generated/apis.js';
import { readRequestHeader } from '../protocol/generated/request-header.js';
import { KafkaError, errorName } from '../protocol/errors.js';
import { CloseConnection, NO_RESPONSE, type ApiHandler, type RequestContext } from './request.js';
import { UNKNOWN_SERVER_ERROR, buildErrorResponse, type ApiErrorInfo } from './error-response.js';
import type { Logger } from './logger.js';
import type { Socket } from 'node:net';
import type { KafkaPrincipal } from '../security/principal.js';
import { normaliseIp } from './connection-quotas.js';

const API_VERSIONS_KEY = 18;

/**
 * What the connection does after a request: write `response` (if any), then close if `close`. A response in
 * several buffers (large records fields referenced, not copied: encodeResponseChunks) is written with one writev.
 */
export interface Outcome {
  readonly response: Buffer | readonly Buffer[] | null;
  readonly close: boolean;
  /** A client over its quota: the connection reads and handles nothing more for this long (KIP-219). */
  readonly throttleMs?: number;
}

/** Client quotas, applied after a handler (src/security/quota-hook.ts). */
export interface RequestQuotaHook {
  /** Whether any quota is configured: nothing is measured otherwise. */
  readonly enabled: boolean;
  /** Before the handler: may bound the request (a consumer's fetch to what its quota allows in one window). */
  prepare(ctx: RequestContext, request: unknown): void;
  /**
   * Records what the request used (its bytes, the fetched bytes, the handler's time) and returns the throttle
   * time; sets the response's throttle_time_ms, and may change the response (a throttled fetch returns no data).
   */
  apply(ctx: RequestContext, request: unknown, response: Record<string, unknown> | null, frameBytes: number, handlerMs: number): number;
}

/** Bytes fields at least this long go to the socket as their own buffer rather than being copied into the frame. */
export const SPLICE_MIN_BYTES = 16 * 1024;

const NOTHING: Outcome = { response: null, close: false };
const CLOSE: Outcome = { response: null, close: true };

export interface RequestRunnerOptions {
  handlers: ReadonlyMap<number, ApiHandler>;
  logger: Logger;
  listenerName: string;
  /** Body for an ApiVersions request of an unsupported version: v0 layout with error 35. */
  unsupportedApiVersionsBody: () => Record<string, unknown>;
  /** Client quotas (none: nothing is throttled). */
  quotas?: RequestQuotaHook;
}

/** The connection a request came from. */
export interface RequestSource {
  readonly clientHost: string;
  readonly socket: Socket;
  readonly principal: KafkaPrincipal;
  /** The client's IP address (normaliseIp); computed from the socket when absent. */
  readonly clientAddress?: string;
}

/** A decoded request on its way through the handler. */
interface InFlight {
  readonly ctx: RequestContext;
  readonly codec: ApiCodec;
  readonly handler: ApiHandler;
  readonly body: unknown;
  /** Size of the request frame (Produce quotas count it). */
  readonly frameBytes: number;
  /** Time the handler ran synchronously (the request quota counts it), set once it returned. */
  handlerMs: number;
}

export class RequestRunner {
  constructor(private readonly opts: RequestRunnerOptions) {}

  /** Never throws, never rejects. */
  run(frame: Buffer, source: RequestSource): Outcome | Promise<Outcome> {
    let req: InFlight | Outcome;
    try {
      req = this.decode(frame, source);
    } catch (err) {
      return this.lastResort(err, source);
    }
    if (!('ctx' in req)) return req;
    const inFlight = req;
    let out: unknown;
    const measure = this.opts.quotas?.enabled === true;
    if (measure) {
      try {
        this.opts.quotas!.prepare(inFlight.ctx, inFlight.body);
      } catch (err) {
        this.opts.logger.error(`client quota accounting failed: ${stackOf(err)}`);
      }
    }
    const started = measure ? performance.now() : 0;
    try {
      out = inFlight.handler.handle(inFlight.body, inFlight.ctx);
    } catch (err) {
      return this.failed(inFlight, err, 'in the handler');
    }
    if (measure) inFlight.handlerMs = performance.now() - started;
    if (out instanceof Promise) {
      return out.then(
        (res) => this.respond(inFlight, res),
        (err) => this.failed(inFlight, err, 'in the handler'),
      );
    }
    return this.respond(inFlight, out);
  }

  /** Decodes header and body, or answers / closes for a frame that cannot be served. */
  private decode(frame: Buffer, source: RequestSource): InFlight | Outcome {
    if (frame.length < 8) {
      this.opts.logger.warn(`closing connection from ${source.clientHost}: request of ${frame.length} bytes is too short for a header`);
      return CLOSE;
    }
    const apiKey = frame.readInt16BE(0);
    const apiVersion = frame.readInt16BE(2);
    const correlationId = frame.readInt32BE(4);
    const handler = this.opts.handlers.get(apiKey);
    const codec = API_CODECS.get(apiKey);
    if (!handler || !codec) {
      this.opts.logger.warn(`closing connection from ${source.clientHost}: unknown api key ${apiKey} (version ${apiVersion}, correlation id ${correlationId})`);
      return CLOSE;
    }
    if (apiVersion < handler.minVersion || apiVersion > handler.maxVersion) {
      if (apiKey === API_VERSIONS_KEY) {
        // KIP-511: answer with a v0 body, error 35 and our ranges, so the client can retry lower.
        return { response: encodeResponse(codec, 0, correlationId, this.opts.unsupportedApiVersionsBody()), close: false };
      }
      this.opts.logger.warn(
        `closing connection from ${source.clientHost}: unsupported version ${apiVersion} of ${codec.name} (key ${apiKey}; served: ${handler.minVersion}-${handler.maxVersion})`,
      );
      return CLOSE;
    }
    let clientId: string | null = null;
    try {
      const r = new Reader(frame);
      clientId = readRequestHeader(r, requestHeaderVersion(apiKey, apiVersion)).clientId;
      const body = codec.readRequest(r, apiVersion);
      const ctx: RequestContext = {
        apiKey,
        apiVersion,
        correlationId,
        clientId,
        clientHost: source.clientHost,
        listenerName: this.opts.listenerName,
        socket: source.socket,
        principal: source.principal,
        clientAddress: source.clientAddress ?? normaliseIp(source.socket.remoteAddress),
      };
      return { ctx, codec, handler, body, frameBytes: frame.length + 4, handlerMs: 0 };
    } catch (err) {
      this.opts.logger.warn(
        `closing connection: malformed request ${describe(codec.name, apiKey, apiVersion, correlationId, clientId, source.clientHost)}: ${(err as Error)?.message ?? err}`,
      );
      return CLOSE;
    }
  }

  /** Encodes the handler's result; an encoding failure becomes the API's error response. Never throws. */
  private respond(req: InFlight, res: unknown): Outcome {
    let throttleMs = 0;
    const quotas = this.opts.quotas;
    if (quotas?.enabled === true) {
      try {
        throttleMs = quotas.apply(req.ctx, req.body, res === NO_RESPONSE ? null : (res as Record<string, unknown>), req.frameBytes, req.handlerMs);
      } catch (err) {
        // quotas are bookkeeping: a failure there must not fail the request
        this.opts.logger.error(`client quota accounting failed: ${stackOf(err)}`);
      }
    }
    if (res === NO_RESPONSE) return throttleMs > 0 ? { response: null, close: false, throttleMs } : NOTHING;
    try {
      const response = encodeResponseChunks(req.codec, req.ctx.apiVersion, req.ctx.correlationId, res as Record<string, unknown>);
      return throttleMs > 0 ? { response, close: false, throttleMs } : { response, close: false };
    } catch (err) {
      return this.failed(req, err, 'while encoding the response');
    }
  }

  /** Answers a failed request with the API's error response, or closes the connection. Never throws. */
  private failed(req: InFlight, err: unknown, stage: string): Outcome {
    try {
      if (err instanceof CloseConnection) return CLOSE;
      const { ctx, codec } = req;
      const error = apiErrorOf(err);
      let outcome: Outcome = CLOSE;
      let how: string;
      try {
        const body = buildErrorResponse(ctx.apiKey, ctx.apiVersion, req.body, error);
        if (body) {
          outcome = { response: encodeResponse(codec, ctx.apiVersion, ctx.correlationId, body), close: false };
          how = `answered with ${errorName(error.errorCode)} (${error.errorCode})`;
        } else {
          how = 'closing the connection (no error response for this request)';
        }
      } catch (buildErr) {
        how = `closing the connection (the error response failed too: ${(buildErr as Error)?.message ?? buildErr})`;
      }
      this.opts.logger.error(
        `request failed ${stage}: ${describe(codec.name, ctx.apiKey, ctx.apiVersion, ctx.correlationId, ctx.clientId, ctx.clientHost)}; ${how}: ${stackOf(err)}`,
      );
      return outcome;
    } catch (unexpected) {
      return this.lastResort(unexpected, req.ctx);
    }
  }

  private lastResort(err: unknown, source: { clientHost: string }): Outcome {
    try {
      this.opts.logger.error(`closing connection from ${source.clientHost} after an unexpected failure: ${stackOf(err)}`);
    } catch {
      // the logger itself failed: closing the connection is all that is left to do
    }
    return CLOSE;
  }
}

/** Kafka's Errors.forException: a KafkaError keeps its code and message; anything else is UNKNOWN_SERVER_ERROR. */
function apiErrorOf(err: unknown): ApiErrorInfo {
  if (err instanceof KafkaError) return { errorCode: err.code, errorMessage: err.message === errorName(err.code) ? null : err.message };
  return UNKNOWN_SERVER_ERROR;
}

function describe(apiName: string, apiKey: number, apiVersion: number, correlationId: number, clientId: string | null, clientHost: string): string {
  return `${apiName} (key ${apiKey}) v${apiVersion}, correlation id ${correlationId}, client id ${clientId === null ? 'null' : JSON.stringify(clientId)}, from ${clientHost}`;
}

function stackOf(err: unknown): string {
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
  try {
    return `non-error value thrown: ${String(err)}`;
  } catch {
    return 'non-error value thrown';
  }
}

/**
 * Encodes a response frame as encodeResponse does, except that bytes fields of at least SPLICE_MIN_BYTES (the
 * records a Fetch returns: file data already in a buffer of its own) are not copied: the frame is then a list of
 * buffers, in order, for one writev. Throws as encodeResponse does.
 */
export function encodeResponseChunks(codec: ApiCodec, apiVersion: number, correlationId: number, body: Record<string, unknown>): Buffer | Buffer[] {
  const headerVersion = responseHeaderVersion(codec.key, apiVersion);
  const headerSize = headerVersion >= 1 ? 5 : 4;
  const { size: bodySize, spliced } = measureSpliced(SPLICE_MIN_BYTES, () => codec.sizeResponse(body, apiVersion));
  if (spliced === 0) return encodeResponse(codec, apiVersion, correlationId, body);
  const w = new SplicingWriter(Buffer.allocUnsafe(4 + headerSize + bodySize - spliced), SPLICE_MIN_BYTES);
  w.int32(headerSize + bodySize);
  w.int32(correlationId);
  if (headerVersion >= 1) w.uvarint(0);
  codec.writeResponse(w, body, apiVersion);
  if (w.pos !== w.buf.length) {
    throw new ProtocolError(`${codec.name} v${apiVersion} response wrote ${w.pos} bytes (besides ${spliced} referenced) where its size pass counted ${w.buf.length}`);
  }
  return w.chunks();
}

/**
 * Encodes a response frame (size, header, body) into one buffer. Throws if the body cannot be encoded, or if
 * the size pass and the write pass disagree, so a malformed frame is never sent.
 */
export function encodeResponse(codec: ApiCodec, apiVersion: number, correlationId: number, body: Record<string, unknown>): Buffer {
  const headerVersion = responseHeaderVersion(codec.key, apiVersion);
  const headerSize = headerVersion >= 1 ? 5 : 4;
  const bodySize = codec.sizeResponse(body, apiVersion);
  const w = Writer.alloc(4 + headerSize + bodySize);
  w.int32(headerSize + bodySize);
  w.int32(correlationId);
  if (headerVersion >= 1) w.uvarint(0); // empty tagged-field section
  codec.writeResponse(w, body, apiVersion);
  if (w.pos !== w.buf.length) {
    throw new ProtocolError(`${codec.name} v${apiVersion} response wrote ${w.pos} bytes where its size pass counted ${w.buf.length}`);
  }
  return w.buf;
}
