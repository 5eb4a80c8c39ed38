import net from 'node:net';

export type FrameDirection = 'request' | 'response';

export interface RecordedFrame {
  direction: FrameDirection;
  /** Which accepted client connection (0, 1, ...) the frame travelled on. */
  connection: number;
  /** Requests: from the header. Responses: copied from the request with the same correlation id, if seen. */
  apiKey?: number;
  apiVersion?: number;
  correlationId: number;
  /** Requests only: the header's client_id (undefined when the frame is too short or it is null). */
  clientId?: string | null;
  /** The exact frame bytes, including the 4-byte size prefix. */
  bytes: Buffer;
}

export interface RecordingProxy {
  port: number;
  /** `127.0.0.1:<port>` */
  address: string;
  /** Every complete frame seen so far, in the order it was completed. */
  frames(): RecordedFrame[];
  /** Frames with the given direction (and api key, if given). */
  requests(apiKey?: number): RecordedFrame[];
  responses(apiKey?: number): RecordedFrame[];
  /** Number of client connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

/** Largest frame we are willing to buffer; anything bigger means we lost sync with the stream. */
const MAX_FRAME = 256 * 1024 * 1024;

/**
 * Splits a TCP byte stream into Kafka frames (`int32 size` + `size` bytes). Feed it chunks as they arrive, in any
 * split or merged shape; each call returns the frames completed by that chunk (each including its size prefix).
 */
export class FrameSplitter {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Set when a negative or absurd size prefix was seen; no more frames are produced after that. */
  broken: string | undefined;

  push(chunk: Buffer): Buffer[] {
    if (this.broken) return [];
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const frames: Buffer[] = [];
    for (;;) {
      if (this.buffered < 4) break;
      const head = this.peek(4);
      const size = head.readInt32BE(0);
      if (size < 0 || size > MAX_FRAME) {
        this.broken = `invalid frame size ${size}`;
        this.chunks = [];
        this.buffered = 0;
        break;
      }
      if (this.buffered < 4 + size) break;
      frames.push(this.take(4 + size));
    }
    return frames;
  }

  /** Bytes buffered towards an incomplete frame. */
  pending(): number {
    return this.buffered;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!.subarray(0, n);
    const all = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [all];
    return all.subarray(0, n);
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
    // Copy so the recorded frame does not pin (or alias) a larger socket buffer.
    const frame = Buffer.from(all.subarray(0, n));
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return frame;
  }
}

export interface RequestHeaderInfo {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  /** undefined when not parseable (too short), null when the wire value is null (-1). */
  clientId?: string | null;
}

/** Parse `api_key i16, api_version i16, correlation_id i32[, client_id i16-string]` from a frame (with prefix). */
export function parseRequestHeader(frame: Buffer): RequestHeaderInfo | undefined {
  if (frame.length < 12) return undefined;
  const info: RequestHeaderInfo = {
    apiKey: frame.readInt16BE(4),
    apiVersion: frame.readInt16BE(6),
    correlationId: frame.readInt32BE(8),
  };
  // ControlledShutdown v0 (key 7) uses header v0, which has no client_id.
  if (!(info.apiKey === 7 && info.apiVersion === 0) && frame.length >= 14) {
    const len = frame.readInt16BE(12);
    if (len === -1) info.clientId = null;
    else if (len >= 0 && frame.length >= 14 + len) info.clientId = frame.toString('utf8', 14, 14 + len);
  }
  return info;
}

/** Correlation id of a response frame (first 4 bytes after the size prefix), or undefined if too short. */
export function parseResponseCorrelationId(frame: Buffer): number | undefined {
  return frame.length >= 8 ? frame.readInt32BE(4) : undefined;
}

/**
 * Start a TCP proxy on 127.0.0.1:<random> that forwards every connection to `targetHost:targetPort` and records
 * every complete Kafka frame in both directions. Bytes are forwarded unchanged and immediately, whether or not a
 * frame is complete.
 *
 * Note: clients learn broker addresses from Metadata, so only bootstrap connections go through the proxy unless the
 * broker advertises the proxy's port (`advertised.listeners=PLAINTEXT://127.0.0.1:<proxy.port>`). The target is
 * only dialled when a client connects, so the proxy can be started before the broker.
 */
export async function startRecordingProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<RecordingProxy> {
  const recorded: RecordedFrame[] = [];
  const sockets = new Set<net.Socket>();
  let connectionCount = 0;

  const server = net.createServer((client) => {
    const connection = connectionCount++;
    const upstream = net.connect({ host: targetHost, port: targetPort });
    sockets.add(client);
    sockets.add(upstream);
    const reqSplitter = new FrameSplitter();
    const resSplitter = new FrameSplitter();
    const inFlight = new Map<number, { apiKey: number; apiVersion: number }>();

    client.on('data', (chunk: Buffer) => {
      for (const bytes of reqSplitter.push(chunk)) {
        const h = parseRequestHeader(bytes);
        const frame: RecordedFrame = {
          direction: 'request',
          connection,
          correlationId: h?.correlationId ?? (bytes.length >= 12 ? bytes.readInt32BE(8) : -1),
          bytes,
        };
        if (h) {
          frame.apiKey = h.apiKey;
          frame.apiVersion = h.apiVersion;
          if (h.clientId !== undefined) frame.clientId = h.clientId;
          inFlight.set(h.correlationId, { apiKey: h.apiKey, apiVersion: h.apiVersion });
        }
        recorded.push(frame);
      }
      if (!upstream.write(chunk)) {
        client.pause();
        upstream.once('drain', () => client.resume());
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      for (const bytes of resSplitter.push(chunk)) {
        const correlationId = parseResponseCorrelationId(bytes) ?? -1;
        const req = inFlight.get(correlationId);
        inFlight.delete(correlationId);
        const frame: RecordedFrame = { direction: 'response', connection, correlationId, bytes };
        if (req) {
          frame.apiKey = req.apiKey;
          frame.apiVersion = req.apiVersion;
        }
        recorded.push(frame);
      }
      if (!client.write(chunk)) {
        upstream.pause();
        client.once('drain', () => upstream.resume());
      }
    });
    const teardown = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    // Half-close propagates (a client that ends its side still gets pending responses).
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', teardown);
    upstream.on('error', teardown);
    client.on('close', teardown);
    upstream.on('close', teardown);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  const addr = server.address() as net.AddressInfo;

  return {
    port: addr.port,
    address: `127.0.0.1:${addr.port}`,
    frames: () => [...recorded],
    requests: (apiKey?: number) =>
      recorded.filter((f) => f.direction === 'request' && (apiKey === undefined || f.apiKey === apiKey)),
    responses: (apiKey?: number) =>
      recorded.filter((f) => f.direction === 'response' && (apiKey === undefined || f.apiKey === apiKey)),
    connections: () => connectionCount,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        sockets.clear();
        server.close(() => resolve());
      }),
  };
}
