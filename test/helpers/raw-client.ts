/**
 * A raw Kafka client on a plain TCP socket, for tests that send exactly the bytes they mean (hostile,
 * pipelined, half-sent) and watch what the broker does with that one connection.
 */
import net from 'node:net';
import { Reader, Writer } from '../../src/protocol/primitives.js';
import { API_CODECS, requestHeaderVersion, responseHeaderVersion } from '../../src/protocol/generated/apis.js';
import { readResponseHeader } from '../../src/protocol/generated/response-header.js';
import { sizeRequestHeader, writeRequestHeader } from '../../src/protocol/generated/request-header.js';
import { FrameSplitter } from './recording-proxy.js';

export class RawConnection {
  readonly received: Buffer[] = [];
  private readonly splitter = new FrameSplitter();
  private readonly waiters: (() => void)[] = [];
  isClosed = false;
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.received.push(...this.splitter.push(chunk));
      this.notify();
    });
    socket.on('error', () => {
      // ECONNRESET / EPIPE when the broker drops the connection: seen as a close
    });
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.isClosed = true;
        this.notify();
        resolve();
      }),
    );
  }

  /** Connects to 127.0.0.1:port, from `localAddress` if given (another loopback address, e.g. 127.0.0.2). */
  static open(port: number, localAddress?: string): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) });
      s.once('connect', () => resolve(new RawConnection(s)));
      s.once('error', reject);
    });
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  write(buf: Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.write(buf, () => resolve());
    });
  }

  /** Waits until `n` complete response frames have arrived; fails on close or after `timeoutMs`. */
  async frames(n: number, timeoutMs = 10_000): Promise<Buffer[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < n) {
      if (this.isClosed) throw new Error(`connection closed after ${this.received.length} of ${n} responses`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${n} responses (got ${this.received.length})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.received.slice(0, n);
  }

  /** Resolves with 'closed' once the broker has closed the connection, or 'open' if it still is after `timeoutMs`. */
  async waitForClose(timeoutMs = 10_000): Promise<'closed' | 'open'> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'open'>((resolve) => {
      timer = setTimeout(() => resolve('open'), timeoutMs);
    });
    const outcome = await Promise.race([this.closed.then(() => 'closed' as const), timeout]);
    clearTimeout(timer);
    return outcome;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A request frame (size prefix included) built with the generated codecs. */
export function encodeRequest(apiKey: number, apiVersion: number, correlationId: number, body: unknown, clientId: string | null = 'kfk-raw-test'): Buffer {
  const codec = API_CODECS.get(apiKey)!;
  const hv = requestHeaderVersion(apiKey, apiVersion);
  const header = { requestApiKey: apiKey, requestApiVersion: apiVersion, correlationId, clientId };
  const size = sizeRequestHeader(header, hv) + codec.sizeRequest(body, apiVersion);
  const w = Writer.alloc(4 + size);
  w.int32(size);
  writeRequestHeader(w, header, hv);
  codec.writeRequest(w, body, apiVersion);
  if (w.pos !== 4 + size) throw new Error('request size mismatch');
  return w.finish();
}

/** Decodes a response frame (size prefix included); throws unless the body is consumed exactly. */
export function decodeResponse<T>(frame: Buffer, apiKey: number, apiVersion: number): { correlationId: number; body: T } {
  const r = new Reader(frame, 4);
  const { correlationId } = readResponseHeader(r, responseHeaderVersion(apiKey, apiVersion));
  const body = API_CODECS.get(apiKey)!.readResponse(r, apiVersion) as T;
  if (r.remaining !== 0) throw new Error(`${r.remaining} bytes left after the response body`);
  return { correlationId, body };
}

/** ApiVersions v3 on this connection; resolves with the error code of the answer. */
export async function apiVersions(c: RawConnection, correlationId: number, timeoutMs = 10_000): Promise<number> {
  const before = c.received.length;
  await c.write(encodeRequest(18, 3, correlationId, { clientSoftwareName: 'kfk-raw-test', clientSoftwareVersion: '1' }));
  const frames = await c.frames(before + 1, timeoutMs);
  const { correlationId: got, body } = decodeResponse<{ errorCode: number }>(frames[before]!, 18, 3);
  if (got !== correlationId) throw new Error(`ApiVersions: correlation id ${got}, expected ${correlationId}`);
  return body.errorCode;
}

/** The resident set size of a process in bytes, from /proc (Linux). */
export async function rssBytes(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}
