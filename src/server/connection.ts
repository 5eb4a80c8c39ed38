/**
 * One client connection: frames requests, decodes headers and bodies with the generated codecs,
 * runs handlers one request at a time (as Kafka mutes a channel while a request is in flight, so
 * responses leave strictly in request order), and encodes each response into one buffer.
 */
import type { Socket } from 'node:net';
import { Reader, Writer, ProtocolError } from '../protocol/primitives.js';
import { API_CODECS, requestHeaderVersion, responseHeaderVersion } from '../protocol/generated/apis.js';
import { readRequestHeader } from '../protocol/generated/request-header.js';
import { ErrorCode } from '../protocol/errors.js';
import { FrameDecoder } from './frame-decoder.js';
import { CloseConnection, NO_RESPONSE, type ApiHandler, type RequestContext } from './request.js';
import type { Logger } from './logger.js';

const API_VERSIONS_KEY = 18;
/** Requests a connection may have waiting before we stop reading from it. */
const MAX_QUEUED_REQUESTS = 1000;

export interface ConnectionOptions {
  maxRequestBytes: number;
  listenerName: string;
  handlers: ReadonlyMap<number, ApiHandler>;
  logger: Logger;
  /** Body for an ApiVersions request of an unsupported version: v0 layout with error 35. */
  unsupportedApiVersionsBody: () => Record<string, unknown>;
  /**
   * Resolves once the broker knows the cluster state (its first reconciliation). Requests that
   * arrive earlier wait for it: a client reconnecting right after a restart must not be told
   * that its topics do not exist.
   */
  ready?: Promise<void>;
}

export class Connection {
  private readonly decoder: FrameDecoder;
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  /** Reading stopped because too many requests wait (the client pipelines faster than we answer). */
  private queueFull = false;
  /** Reading stopped because the client does not read its responses. */
  private writeBlocked = false;
  /** Wakes drainQueue once the socket drains (or closes). */
  private drained: (() => void) | null = null;
  private processing = false;
  private closed = false;
  readonly clientHost: string;

  constructor(
    readonly socket: Socket,
    private readonly opts: ConnectionOptions,
  ) {
    this.decoder = new FrameDecoder(opts.maxRequestBytes);
    this.clientHost = `${socket.remoteAddress ?? 'unknown'}:${socket.remotePort ?? 0}`;
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('error', () => this.close());
    socket.on('close', () => {
      this.closed = true;
      this.wakeWriter();
    });
    // Back-pressure: stop reading a client that does not read its responses.
    socket.on('drain', () => {
      this.writeBlocked = false;
      this.wakeWriter();
      this.maybeResume();
    });
  }

  private wakeWriter(): void {
    const wake = this.drained;
    this.drained = null;
    wake?.();
  }

  private maybeResume(): void {
    if (!this.closed && !this.writeBlocked && !this.queueFull) this.socket.resume();
  }

  close(reason?: string): void {
    if (this.closed) return;
    this.closed = true;
    if (reason) this.opts.logger.debug(`closing connection from ${this.clientHost}: ${reason}`);
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    let frames: Buffer[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.opts.logger.warn(`closing connection from ${this.clientHost}: ${(err as Error).message}`);
      this.close();
      return;
    }
    for (const f of frames) {
      this.queue.push(f);
      this.queuedBytes += f.length;
    }
    // Bound the memory one connection can hold in waiting requests.
    if (this.queue.length > MAX_QUEUED_REQUESTS || this.queuedBytes > this.opts.maxRequestBytes) {
      this.queueFull = true;
      this.socket.pause();
    }
    if (!this.processing) void this.drainQueue();
  }

  private async drainQueue(): Promise<void> {
    this.processing = true;
    try {
      if (this.opts.ready) await this.opts.ready;
      while (this.queue.length > 0 && !this.closed) {
        if (this.writeBlocked) {
          // The client does not read its responses: handle nothing more until the socket drains, so at most one
          // response beyond the socket's buffer waits in memory (Kafka mutes such a channel).
          await new Promise<void>((resolve) => (this.drained = resolve));
          continue;
        }
        const frame = this.queue.shift()!;
        this.queuedBytes -= frame.length;
        if (this.queueFull && this.queue.length <= MAX_QUEUED_REQUESTS / 2) {
          this.queueFull = false;
          this.maybeResume();
        }
        const result = this.handleFrame(frame);
        const response = result instanceof Promise ? await result : result;
        if (this.closed) break;
        if (response) {
          if (!this.socket.write(response)) {
            this.writeBlocked = true;
            this.socket.pause();
          }
        }
      }
    } finally {
      this.processing = false;
    }
  }

  /** Returns the encoded response frame, null for no response; closes the connection on bad input. */
  private handleFrame(frame: Buffer): Buffer | null | Promise<Buffer | null> {
    let ctx: RequestContext;
    let body: unknown;
    let handler: ApiHandler | undefined;
    try {
      if (frame.length < 8) throw new ProtocolError(`request of ${frame.length} bytes is too short for a header`);
      const apiKey = frame.readInt16BE(0);
      const apiVersion = frame.readInt16BE(2);
      const correlationId = frame.readInt32BE(4);
      handler = this.opts.handlers.get(apiKey);
      const codec = API_CODECS.get(apiKey);
      if (!handler || !codec) throw new ProtocolError(`unknown api key ${apiKey}`);
      if (apiVersion < handler.minVersion || apiVersion > handler.maxVersion) {
        if (apiKey === API_VERSIONS_KEY) {
          // KIP-511: answer with a v0 body, error 35 and our ranges, so the client can retry lower.
          return this.encodeResponse(apiKey, 0, correlationId, this.opts.unsupportedApiVersionsBody());
        }
        throw new ProtocolError(`unsupported version ${apiVersion} of api ${codec.name} (key ${apiKey})`);
      }
      const r = new Reader(frame);
      const header = readRequestHeader(r, requestHeaderVersion(apiKey, apiVersion));
      ctx = {
        apiKey,
        apiVersion,
        correlationId,
        clientId: header.clientId,
        clientHost: this.clientHost,
        listenerName: this.opts.listenerName,
        socket: this.socket,
      };
      body = codec.readRequest(r, apiVersion);
    } catch (err) {
      this.opts.logger.warn(`closing connection from ${this.clientHost}: malformed request: ${(err as Error).message}`);
      this.close();
      return null;
    }
    try {
      const out = handler.handle(body, ctx);
      if (out instanceof Promise) {
        return out.then(
          (res) => this.finish(ctx, res),
          (err) => this.fail(ctx, err),
        );
      }
      return this.finish(ctx, out);
    } catch (err) {
      return this.fail(ctx, err);
    }
  }

  private finish(ctx: RequestContext, res: unknown): Buffer | null {
    if (res === NO_RESPONSE) return null;
    return this.encodeResponse(ctx.apiKey, ctx.apiVersion, ctx.correlationId, res as Record<string, unknown>);
  }

  private fail(ctx: RequestContext, err: unknown): null {
    if (!(err instanceof CloseConnection)) {
      const codec = API_CODECS.get(ctx.apiKey);
      this.opts.logger.error(
        `error handling ${codec?.name ?? ctx.apiKey} v${ctx.apiVersion} from ${ctx.clientId ?? '?'}@${this.clientHost}: ${
          (err as Error)?.stack ?? err
        }`,
      );
    }
    this.close();
    return null;
  }

  private encodeResponse(apiKey: number, apiVersion: number, correlationId: number, body: Record<string, unknown>): Buffer {
    const codec = API_CODECS.get(apiKey)!;
    const headerVersion = responseHeaderVersion(apiKey, apiVersion);
    const headerSize = headerVersion >= 1 ? 5 : 4;
    const bodySize = codec.sizeResponse(body, apiVersion);
    const w = Writer.alloc(4 + headerSize + bodySize);
    w.int32(headerSize + bodySize);
    w.int32(correlationId);
    if (headerVersion >= 1) w.uvarint(0); // empty tagged-field section
    codec.writeResponse(w, body, apiVersion);
    return w.buf;
  }
}

export { ErrorCode };
