/**
 * One TCP connection to one broker: connect (with a timeout), ApiVersions negotiation, and pipelined
 * requests matched to their responses by correlation id.
 *
 * - Every request is encoded into one Buffer (size pass first): int32 frame size, request header (v1, or
 *   v2 for flexible versions), body.
 * - Responses are length-prefixed frames; FrameDecoder reassembles them from TCP chunks however the
 *   kernel splits or merges them.
 * - ApiVersions is sent as v3 first; a broker that does not know v3 answers with error 35
 *   (UNSUPPORTED_VERSION) in a v0-shaped body (KIP-511), and we retry with v0. The version used for each
 *   API is then the highest one in client range ∩ broker range (as librdkafka does).
 */
import type net from 'node:net';
import type tls from 'node:tls';
import { Reader, SplicingWriter, Writer, measureSpliced } from '../protocol/primitives.js';
import { BorrowedFrameAssembler } from '../protocol/borrowed-frames.js';
// The light API table: each API's codec module is imported on its first request (api-table.ts), so a short-lived
// client (the CLI) loads a few of the generated modules, not all of them.
import { API_TABLE, ApiKey, loadApiCodec, loadedApiCodec, requestHeaderVersion, responseHeaderVersion } from '../protocol/generated/api-table.js';
import type { ApiCodec } from '../protocol/generated/apis.js';
import { sizeRequestHeader, writeRequestHeader } from '../protocol/generated/request-header.js';
import { readResponseHeader } from '../protocol/generated/response-header.js';
import type { ApiVersionsResponse } from '../protocol/generated/api-versions.js';
import { ErrorCode, KafkaError, errorName } from '../protocol/errors.js';
import type { ClientSecurity } from '../security/client-security.js';

// node:net through process.getBuiltinModule (Node 22.3+), not an import: an ES import of a builtin makes Node build a
// facade of all its exports, about 1.5 ms of every CLI command's start-up (commands/lean-builtins.ts says more).
const { connect: netConnect, isIP } = process.getBuiltinModule?.('node:net') ?? (await import('node:net'));

/** The versions this client sends, per API key: within what the generated codecs support, capped where the
 * client code only handles a subset (e.g. Fetch ≥13 needs topic ids, Produce <3 and Fetch <4 predate
 * record batch v2). APIs not listed use the codec's full stable range. */
export const CLIENT_VERSION_RANGES: Readonly<Record<number, readonly [number, number]>> = {
  [ApiKey.Produce]: [3, 11],
  [ApiKey.Fetch]: [4, 12],
  [ApiKey.ListOffsets]: [1, 7],
  [ApiKey.Metadata]: [1, 12],
  [ApiKey.ApiVersions]: [0, 3],
  [ApiKey.CreateTopics]: [2, 7],
  [ApiKey.DeleteTopics]: [1, 6],
  [ApiKey.CreatePartitions]: [0, 3],
  [ApiKey.DescribeConfigs]: [1, 4],
};

export const CLIENT_SOFTWARE_NAME = 'kfk';
export const CLIENT_SOFTWARE_VERSION = '0.1.0';

/** The client's [min, max] for an API key, or undefined if there is no codec for it. */
export function clientVersionRange(apiKey: number): readonly [number, number] | undefined {
  const fixed = CLIENT_VERSION_RANGES[apiKey];
  if (fixed) return fixed;
  const api = API_TABLE.get(apiKey);
  return api ? [api.minVersion, api.maxStableVersion] : undefined;
}

export interface VersionRange {
  min: number;
  max: number;
}

/** Highest version in [clientMin, clientMax] ∩ [brokerMin, brokerMax], or -1 when they do not overlap. */
export function chooseVersion(clientMin: number, clientMax: number, brokerMin: number, brokerMax: number): number {
  const hi = Math.min(clientMax, brokerMax);
  const lo = Math.max(clientMin, brokerMin);
  return hi >= lo ? hi : -1;
}

/** Per-API versions to use, from the broker's advertised ranges. APIs without an overlap are left out. */
export function negotiateVersions(
  broker: ReadonlyMap<number, VersionRange>,
  clientRange: (apiKey: number) => readonly [number, number] | undefined = clientVersionRange,
): Map<number, number> {
  const out = new Map<number, number>();
  for (const [key, range] of broker) {
    const client = clientRange(key);
    if (!client) continue;
    const v = chooseVersion(client[0], client[1], range.min, range.max);
    if (v >= 0) out.set(key, v);
  }
  return out;
}

/**
 * Splits a byte stream into Kafka frames (int32 size + payload). Chunks are kept in a list and joined
 * once per frame, so a large response arriving in many small chunks costs O(size), not O(size²).
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private frameSize = -1;
  /** pushBorrowed's frames: each in a buffer of its own (records handed to the application keep referring to it). */
  private readonly borrowed = new BorrowedFrameAssembler(
    (size) => Buffer.allocUnsafe(size),
    (size) => {
      if (size < 0 || size > this.maxFrameSize) throw new Error(`invalid response frame size ${size}`);
    },
  );

  constructor(private readonly maxFrameSize = 0x7fffffff) {}

  /** Feeds a chunk; returns the payloads (without the size prefix) of every frame now complete. */
  push(chunk: Buffer): Buffer[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const out: Buffer[] = [];
    for (;;) {
      if (this.frameSize < 0) {
        if (this.buffered < 4) break;
        const size = this.peekInt32();
        if (size < 0 || size > this.maxFrameSize) {
          throw new Error(`invalid response frame size ${size}`);
        }
        this.frameSize = size;
      }
      if (this.buffered < 4 + this.frameSize) break;
      out.push(this.take(4 + this.frameSize).subarray(4));
      this.frameSize = -1;
    }
    return out;
  }

  /**
   * Feeds a chunk the caller only lends (a socket reading into a shared buffer, see sharedReads below): each
   * byte is copied straight into the buffer of its frame, allocated once its size is known, so nothing refers to
   * `chunk` afterwards. Not to be mixed with push() on one decoder.
   */
  pushBorrowed(chunk: Buffer): Buffer[] {
    return this.borrowed.push(chunk);
  }

  /** Bytes held for an incomplete frame. */
  get pending(): number {
    return this.buffered + this.borrowed.pendingBytes;
  }

  private peekInt32(): number {
    const first = this.chunks[0]!;
    if (first.length >= 4) return first.readInt32BE(0);
    const joined = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [joined];
    return joined.readInt32BE(0);
  }

  private take(n: number): Buffer {
    let buf: Buffer;
    const first = this.chunks[0]!;
    if (first.length >= n) {
      buf = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      const joined = Buffer.concat(this.chunks, this.buffered);
      buf = joined.subarray(0, n);
      this.chunks = joined.length > n ? [joined.subarray(n)] : [];
    }
    this.buffered -= n;
    return buf;
  }
}

/** The codec of an API (loadApiCodec must have loaded it: BrokerConnection does before encoding). */
function codecOf(apiKey: number): ApiCodec {
  const codec = loadedApiCodec(apiKey);
  if (codec) return codec;
  throw new Error(API_TABLE.has(apiKey) ? `the codec of API key ${apiKey} is not loaded (await loadApiCodec first)` : `unknown API key ${apiKey}`);
}

/** Encodes header + body for one request into a single size-prefixed buffer. */
export function encodeRequest(
  apiKey: number,
  version: number,
  correlationId: number,
  clientId: string | null,
  body: unknown,
): Buffer {
  const codec = codecOf(apiKey);
  const hv = requestHeaderVersion(apiKey, version);
  const header = { requestApiKey: apiKey, requestApiVersion: version, correlationId, clientId };
  const size = sizeRequestHeader(header, hv) + codec.sizeRequest(body, version);
  const w = Writer.alloc(4 + size);
  w.int32(size);
  writeRequestHeader(w, header, hv);
  codec.writeRequest(w, body, version);
  if (w.pos !== 4 + size) throw new Error(`encoded ${codec.name} v${version} size mismatch: ${w.pos - 4} != ${size}`);
  return w.buf;
}

/** Bytes fields at least this long (a Produce request's record batches) are sent as their own buffers. */
const SPLICE_MIN_BYTES = 16 * 1024;

/**
 * As encodeRequest, except that bytes fields of at least 16 KiB (record batches) are not copied into the frame:
 * the frame is then a list of buffers in order, for one corked write.
 */
export function encodeRequestChunks(
  apiKey: number,
  version: number,
  correlationId: number,
  clientId: string | null,
  body: unknown,
): Buffer | Buffer[] {
  const codec = codecOf(apiKey);
  const hv = requestHeaderVersion(apiKey, version);
  const header = { requestApiKey: apiKey, requestApiVersion: version, correlationId, clientId };
  const { size: bodySize, spliced } = measureSpliced(SPLICE_MIN_BYTES, () => codec.sizeRequest(body, version));
  if (spliced === 0) return encodeRequest(apiKey, version, correlationId, clientId, body);
  const size = sizeRequestHeader(header, hv) + bodySize;
  const w = new SplicingWriter(Buffer.allocUnsafe(4 + size - spliced), SPLICE_MIN_BYTES);
  w.int32(size);
  writeRequestHeader(w, header, hv);
  codec.writeRequest(w, body, version);
  if (w.pos !== w.buf.length) throw new Error(`encoded ${codec.name} v${version} size mismatch: ${w.pos} != ${w.buf.length} (besides ${spliced} referenced)`);
  return w.chunks();
}

/** Decodes a response frame payload (header + body) for a known api key / version. */
export function decodeResponse(apiKey: number, version: number, payload: Buffer): { correlationId: number; body: any } {
  const codec = codecOf(apiKey);
  const r = new Reader(payload);
  const header = readResponseHeader(r, responseHeaderVersion(apiKey, version));
  return { correlationId: header.correlationId, body: codec.readResponse(r, version) };
}

/** A network-level failure (refused, timed out, closed). Retriable by the layers above. */
export class ConnectionError extends Error {
  constructor(
    message: string,
    readonly code?: string,
    /** false when retrying cannot help (e.g. no bootstrap server was ever reachable). */
    readonly retriable = true,
  ) {
    super(message);
    this.name = 'ConnectionError';
  }
}

export class RequestTimeoutError extends ConnectionError {
  constructor(message: string) {
    super(message, 'ETIMEDOUT');
    this.name = 'RequestTimeoutError';
  }
}

export interface ConnectionOptions {
  host: string;
  port: number;
  clientId?: string;
  /** Default 10 000 ms. */
  connectTimeoutMs?: number;
  /** Per-request timeout (on top of any broker-side wait like Fetch max_wait_ms). Default 30 000 ms. */
  requestTimeoutMs?: number;
  /** Lower the max version used for some API keys. */
  maxVersions?: Readonly<Record<number, number>>;
  /** TLS and SASL (security.protocol and friends); default PLAINTEXT. */
  security?: ClientSecurity;
  /** Called with the throttle_time_ms of every response that has one (client quota metrics). */
  onThrottle?: (apiKey: number, throttleMs: number) => void;
}

export interface RequestOptions {
  /** Force a version instead of the negotiated one. */
  version?: number;
  /** false for requests the broker never answers (Produce with acks=0). Default true. */
  expectResponse?: boolean;
  /** Override the connection's request timeout. */
  timeoutMs?: number;
  /** A request of the SASL exchange itself: sent while other requests wait for a re-authentication. */
  authentication?: boolean;
}

interface InFlight {
  apiKey: number;
  version: number;
  resolve(body: any): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout | undefined;
}

function describeSocketError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'unknown host';
    case 'ECONNRESET':
      return 'connection reset';
    case 'EHOSTUNREACH':
      return 'host unreachable';
    case 'ENETUNREACH':
      return 'network unreachable';
    case 'ETIMEDOUT':
      return 'connection timed out';
    default:
      return err.code ? `${err.code.toLowerCase()}: ${err.message}` : err.message;
  }
}

export class BrokerConnection {
  readonly host: string;
  readonly port: number;
  readonly clientId: string;
  /** The broker's advertised ranges, from ApiVersions. */
  readonly brokerVersions = new Map<number, VersionRange>();
  /** Versions used per API key. */
  readonly versions = new Map<number, number>();

  private readonly socket: net.Socket;
  private readonly decoder = new FrameDecoder();
  private readonly inFlight = new Map<number, InFlight>();
  private readonly requestTimeoutMs: number;
  private readonly maxVersions: Readonly<Record<number, number>>;
  private nextCorrelationId = 1;
  /** While set (a SASL re-authentication runs), new requests wait for it. */
  private gate: Promise<void> | null = null;
  private reauthTimer: NodeJS.Timeout | undefined;
  private readonly security: ClientSecurity | undefined;
  private readonly onThrottle: ((apiKey: number, throttleMs: number) => void) | undefined;
  /** KIP-219: no request goes out before this time (the broker muted us for throttle_time_ms). */
  private throttledUntil = 0;
  private closedError: Error | undefined;
  private readonly closeListeners = new Set<(err?: Error) => void>();

  private constructor(socket: net.Socket, opts: ConnectionOptions) {
    this.socket = socket;
    this.host = opts.host;
    this.port = opts.port;
    this.clientId = opts.clientId ?? 'kfk';
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.maxVersions = opts.maxVersions ?? {};
    this.security = opts.security;
    this.onThrottle = opts.onThrottle;
    if (sharedReads.has(socket)) readSinks.set(socket, (chunk) => this.onData(chunk, true));
    else socket.on('data', (chunk: Buffer) => this.onData(chunk, false));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.fail(new ConnectionError(`connection to ${this.address} failed (${describeSocketError(err)})`, err.code));
    });
    socket.on('close', () => {
      this.fail(new ConnectionError(`connection to ${this.address} closed`, 'ECONNRESET'));
    });
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  /** Requests sent and not yet answered. */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Opens a TCP (or TLS) connection, negotiates API versions and authenticates (SASL) when configured. */
  static async connect(opts: ConnectionOptions): Promise<BrokerConnection> {
    const timeoutMs = opts.connectTimeoutMs ?? 10_000;
    const useTls = opts.security?.protocol === 'SSL' || opts.security?.protocol === 'SASL_SSL';
    const opening = useTls ? openTlsSocket(opts.host, opts.port, timeoutMs, opts.security?.tls ?? {}) : openSocket(opts.host, opts.port, timeoutMs);
    // The ApiVersions codec is imported while the connection is being set up (a short-lived client's first import)
    const [socket] = await Promise.all([opening, loadApiCodec(ApiKey.ApiVersions)]);
    const conn = new BrokerConnection(socket, opts);
    try {
      await conn.negotiate();
      await conn.authenticate();
    } catch (err) {
      conn.close();
      throw err;
    }
    return conn;
  }

  /** SASL (SASL_PLAINTEXT, SASL_SSL): authenticates, and schedules the re-authentication the broker asks for. */
  private async authenticate(): Promise<void> {
    const creds = this.security?.sasl;
    if (creds === undefined) return;
    // loaded on first use, with node:crypto (SCRAM): plaintext clients do not pay for it
    const { saslAuthenticate } = await import('../security/sasl-client.js');
    const { sessionLifetimeMs } = await saslAuthenticate(
      { address: this.address, versionFor: (k) => this.versionFor(k), request: (k, body, version) => this.request(k, body, { version, authentication: true }) },
      creds,
    );
    if (sessionLifetimeMs > 0 && !this.closed) {
      // KIP-368: re-authenticate at 85-95% of the session, as Kafka's clients do
      const delay = Math.max(0, Math.floor(sessionLifetimeMs * (0.85 + Math.random() * 0.1)));
      this.reauthTimer = setTimeout(() => this.reauthenticate(), delay);
      this.reauthTimer.unref();
    }
  }

  private reauthenticate(): void {
    if (this.closed) return;
    const run = this.authenticate().then(
      () => {
        if (this.gate === run) this.gate = null;
      },
      (err: unknown) => {
        this.fail(err instanceof Error ? err : new ConnectionError(String(err)));
      },
    );
    this.gate = run;
  }

  /** Wraps an already-connected socket (tests); call negotiate() before request() without a version. */
  static fromSocket(socket: net.Socket, opts: ConnectionOptions): BrokerConnection {
    return new BrokerConnection(socket, opts);
  }

  /** ApiVersions v3, falling back to v0 on UNSUPPORTED_VERSION (KIP-511). */
  async negotiate(): Promise<void> {
    const first = this.apiVersions(3);
    // While the broker answers, import the codec of the request a client sends next (a short-lived client such as the
    // CLI would otherwise import it after the answer): ApiVersions is on its way already when its codec was loaded.
    // (a failed import shows where the codec is used: here it is only marked handled)
    if (loadedApiCodec(ApiKey.ApiVersions)) loadApiCodec(ApiKey.Metadata).catch(() => {});
    let resp = await first;
    if (resp.errorCode === ErrorCode.UNSUPPORTED_VERSION) resp = await this.apiVersions(0);
    if (resp.errorCode !== ErrorCode.NONE) {
      throw new KafkaError(resp.errorCode, `ApiVersions failed at ${this.address}: ${resp.errorName}`);
    }
    this.setBrokerVersions(resp.apiKeys);
  }

  /** Records the broker's ranges and recomputes the version used for each API. */
  setBrokerVersions(apiKeys: ReadonlyArray<{ apiKey: number; minVersion: number; maxVersion: number }>): void {
    this.brokerVersions.clear();
    for (const k of apiKeys) this.brokerVersions.set(k.apiKey, { min: k.minVersion, max: k.maxVersion });
    this.versions.clear();
    for (const [key, v] of negotiateVersions(this.brokerVersions, (key) => {
      const r = clientVersionRange(key);
      if (!r) return undefined;
      const cap = this.maxVersions[key];
      return cap === undefined ? r : [r[0], Math.min(r[1], cap)];
    })) {
      this.versions.set(key, v);
    }
  }

  private async apiVersions(version: number): Promise<{ errorCode: number; errorName: string; apiKeys: ApiVersionsResponse['apiKeys'] }> {
    // Peek at error_code (the first field in every version) before decoding: a broker that rejects v3
    // answers with a v0-shaped body that the v3 decoder cannot read.
    const payload = await this.rawRequest(ApiKey.ApiVersions, version, {
      clientSoftwareName: CLIENT_SOFTWARE_NAME,
      clientSoftwareVersion: CLIENT_SOFTWARE_VERSION,
    });
    const r = new Reader(payload);
    readResponseHeader(r, 0);
    const errorCode = payload.length >= r.pos + 2 ? payload.readInt16BE(r.pos) : ErrorCode.UNKNOWN_SERVER_ERROR;
    if (errorCode === ErrorCode.UNSUPPORTED_VERSION) return { errorCode, errorName: 'UNSUPPORTED_VERSION', apiKeys: [] };
    const body = codecOf(ApiKey.ApiVersions).readResponse(r, version) as ApiVersionsResponse;
    return { errorCode: body.errorCode, errorName: errorName(body.errorCode), apiKeys: body.apiKeys };
  }

  /** The negotiated version for an API, or -1 if the broker does not support any version we speak. */
  versionFor(apiKey: number): number {
    return this.versions.get(apiKey) ?? -1;
  }

  supports(apiKey: number): boolean {
    return this.versions.has(apiKey);
  }

  /**
   * Sends one request and resolves with the decoded response body (or undefined when expectResponse is
   * false, once the bytes are handed to the socket). Rejects with ConnectionError on network failure or
   * timeout (the connection is then closed: a late response cannot be matched any more).
   */
  async request<T = any>(apiKey: number, body: unknown, opts: RequestOptions = {}): Promise<T> {
    const version = opts.version ?? this.versions.get(apiKey);
    if (version === undefined) {
      const name = API_TABLE.get(apiKey)?.name ?? `API ${apiKey}`;
      throw new KafkaError(ErrorCode.UNSUPPORTED_VERSION, `the broker at ${this.address} does not support ${name} in a version kfk speaks`);
    }
    const wait = this.throttledUntil - Date.now();
    // KIP-219: the broker muted this connection for a quota; wait, as Kafka's clients do, instead of queueing behind it
    if (wait > 0 && opts.authentication !== true) await new Promise((resolve) => setTimeout(resolve, wait));
    const payload = await this.rawRequest(apiKey, version, body, opts);
    if (payload === undefined) return undefined as T;
    const decoded = decodeResponse(apiKey, version, payload).body as T & { throttleTimeMs?: unknown };
    const throttle = decoded.throttleTimeMs;
    if (typeof throttle === 'number') {
      if (throttle > 0) this.throttledUntil = Math.max(this.throttledUntil, Date.now() + throttle);
      this.onThrottle?.(apiKey, throttle);
    }
    return decoded;
  }

  /** Sends a request; resolves with the raw response frame (header + body). */
  rawRequest(apiKey: number, version: number, body: unknown, opts: RequestOptions & { expectResponse: false }): Promise<undefined>;
  rawRequest(apiKey: number, version: number, body: unknown, opts?: RequestOptions): Promise<Buffer>;
  rawRequest(apiKey: number, version: number, body: unknown, opts: RequestOptions = {}): Promise<Buffer | undefined> {
    if (this.closedError) return Promise.reject(this.closedError);
    if (this.gate !== null && opts.authentication !== true) {
      // a re-authentication is under way: the broker accepts only its requests until it is done
      return this.gate.then(() => this.rawRequest(apiKey, version, body, opts));
    }
    if (!loadedApiCodec(apiKey)) {
      // first use of this API: import its codec, then send (requests waiting for the same API keep their order)
      return loadApiCodec(apiKey).then((codec) =>
        codec ? this.rawRequest(apiKey, version, body, opts) : Promise.reject(new Error(`unknown API key ${apiKey}`)),
      );
    }
    const correlationId = this.nextCorrelationId;
    this.nextCorrelationId = (this.nextCorrelationId + 1) & 0x7fffffff;
    let frame: Buffer | Buffer[];
    try {
      frame = encodeRequestChunks(apiKey, version, correlationId, this.clientId, body);
    } catch (err) {
      return Promise.reject(err);
    }
    if (opts.expectResponse === false) {
      return new Promise((resolve, reject) => {
        this.write(frame, (err) => (err ? reject(this.closedError ?? new ConnectionError(err.message)) : resolve(undefined)));
      });
    }
    return new Promise<Buffer>((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? this.requestTimeoutMs;
      const entry: InFlight = { apiKey, version, resolve, reject, timer: undefined };
      if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
        entry.timer = setTimeout(() => {
          const name = API_TABLE.get(apiKey)?.name ?? String(apiKey);
          this.fail(new RequestTimeoutError(`${name} request to ${this.address} timed out after ${timeoutMs}ms`));
        }, timeoutMs);
      }
      this.inFlight.set(correlationId, entry);
      this.write(frame);
    });
  }

  /** Writes a frame; one in several buffers goes out corked (one writev). `done` follows the last buffer. */
  private write(frame: Buffer | Buffer[], done?: (err?: Error | null) => void): void {
    if (Buffer.isBuffer(frame)) {
      this.socket.write(frame, done);
      return;
    }
    this.socket.cork();
    for (let i = 0; i < frame.length; i++) this.socket.write(frame[i]!, i === frame.length - 1 ? done : undefined);
    this.socket.uncork();
  }

  private onData(chunk: Buffer, borrowed: boolean): void {
    let frames: Buffer[];
    try {
      frames = borrowed ? this.decoder.pushBorrowed(chunk) : this.decoder.push(chunk);
    } catch (err) {
      this.fail(new ConnectionError(`bad response from ${this.address}: ${(err as Error).message}`));
      return;
    }
    for (const frame of frames) {
      if (frame.length < 4) {
        this.fail(new ConnectionError(`bad response from ${this.address}: frame of ${frame.length} bytes`));
        return;
      }
      const correlationId = frame.readInt32BE(0);
      const entry = this.inFlight.get(correlationId);
      if (!entry) {
        this.fail(new ConnectionError(`unexpected correlation id ${correlationId} from ${this.address}`));
        return;
      }
      this.inFlight.delete(correlationId);
      if (entry.timer) clearTimeout(entry.timer);
      entry.resolve(frame);
    }
  }

  /** Rejects everything in flight and closes the socket; idempotent. */
  private fail(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    if (this.reauthTimer) clearTimeout(this.reauthTimer);
    const pending = [...this.inFlight.values()];
    this.inFlight.clear();
    for (const p of pending) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(err);
    }
    this.socket.destroy();
    for (const l of this.closeListeners) l(err);
  }

  /** Called once when the connection closes for any reason. */
  onClose(listener: (err?: Error) => void): void {
    if (this.closedError) listener(this.closedError);
    else this.closeListeners.add(listener);
  }

  close(): void {
    this.fail(new ConnectionError(`connection to ${this.address} was closed by the client`, 'ECLOSED'));
  }
}

async function openTlsSocket(host: string, port: number, timeoutMs: number, options: tls.ConnectionOptions): Promise<net.Socket> {
  // node:tls costs about 20 ms of CPU to load: only connections that use it pay for it (CLI start-up, issue 9)
  const { connect } = await import('node:tls');
  return new Promise((resolve, reject) => {
    const socket = connect({ ...options, host, port, ...(isIP(host) === 0 ? { servername: host } : {}) });
    socket.setNoDelay(true);
    let connected = false;
    socket.once('connect', () => (connected = true));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ConnectionError(`no broker at ${host}:${port} (${connected ? 'TLS handshake' : 'connection'} timed out after ${timeoutMs}ms)`, 'ETIMEDOUT'));
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      // a refused or unreachable address is retriable; a certificate the client does not trust is not
      const why = connected ? `SSL handshake failed: ${err.message}` : describeSocketError(err);
      reject(new ConnectionError(`no broker at ${host}:${port} (${why})`, err.code, !connected));
    });
  });
}

/**
 * Plaintext connections read into one buffer shared by all of them (net.connect's `onread`): Node then allocates
 * no buffer per socket read (a 1 MiB Fetch response arrives in 16 reads, each of which was a fresh 64 KiB buffer
 * and then one more copy to join them). The callback runs synchronously after each read and the FrameDecoder
 * copies the bytes out before it returns, so the buffer is free again for the next read, on any connection.
 */
const SHARED_READ_BUFFER_BYTES = 64 * 1024;
let sharedReadBuffer: Buffer | null = null;
/** Where each plaintext socket's reads go: set by the BrokerConnection that takes the socket over. */
const readSinks = new WeakMap<net.Socket, (chunk: Buffer) => void>();
/** Sockets opened with the shared read buffer (they emit no 'data'). */
const sharedReads = new WeakSet<net.Socket>();

function openSocket(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    sharedReadBuffer ??= Buffer.allocUnsafe(SHARED_READ_BUFFER_BYTES);
    const socket: net.Socket = netConnect({
      host,
      port,
      onread: {
        buffer: sharedReadBuffer,
        callback: (bytes: number, buf: Uint8Array): boolean => {
          readSinks.get(socket)?.(Buffer.from(buf.buffer, buf.byteOffset, bytes));
          return true;
        },
      },
    });
    sharedReads.add(socket);
    socket.setNoDelay(true);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ConnectionError(`no broker at ${host}:${port} (connection timed out after ${timeoutMs}ms)`, 'ETIMEDOUT'));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new ConnectionError(`no broker at ${host}:${port} (${describeSocketError(err)})`, err.code));
    });
  });
}
