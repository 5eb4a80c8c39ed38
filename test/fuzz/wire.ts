/**
 * Talking to a broker at the byte level: one fuzz input is a complete frame (size prefix included,
 * possibly lying). Each input gets its own connection; a well-formed ApiVersions v0 request (the
 * sentinel) is pipelined behind it, so that a request the broker answers with nothing (Produce with
 * acks=0) is told apart from a stalled one without waiting for a timeout. The broker must answer
 * the requests it can frame, in order, with the right correlation ids and bodies that decode, or
 * close the connection.
 */
import net from 'node:net';
import { Reader } from '../../src/protocol/primitives.js';
import { API_CODECS, responseHeaderVersion } from '../../src/protocol/generated/apis.js';

export const SENTINEL_CORRELATION_ID = 0x7ffffff0;
const API_VERSIONS = 18;

/** ApiVersions v0 with client id "fuzz-sentinel". */
export function apiVersionsFrame(correlationId: number, clientId = 'fuzz-sentinel'): Buffer {
  const id = Buffer.from(clientId);
  const b = Buffer.alloc(4 + 8 + 2 + id.length);
  b.writeInt32BE(b.length - 4, 0);
  b.writeInt16BE(API_VERSIONS, 4);
  b.writeInt16BE(0, 6);
  b.writeInt32BE(correlationId, 8);
  b.writeInt16BE(id.length, 12);
  id.copy(b, 14);
  return b;
}

/** Sets the size prefix to the real payload length. */
export function fixSize(frame: Buffer): Buffer {
  if (frame.length >= 4) frame.writeInt32BE(frame.length - 4, 0);
  return frame;
}

export interface RequestInfo {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
}

/** Splits bytes into frames as the broker will (size prefix), for the requests it can see whole. */
export function splitRequests(bytes: Buffer): RequestInfo[] {
  const out: RequestInfo[] = [];
  let pos = 0;
  while (pos + 4 <= bytes.length) {
    const size = bytes.readInt32BE(pos);
    if (size < 0 || pos + 4 + size > bytes.length) break;
    if (size >= 8) {
      out.push({ apiKey: bytes.readInt16BE(pos + 4), apiVersion: bytes.readInt16BE(pos + 6), correlationId: bytes.readInt32BE(pos + 8) });
    } else out.push({ apiKey: -1, apiVersion: -1, correlationId: -1 });
    pos += 4 + size;
  }
  return out;
}

export type Outcome = 'answered' | 'closed' | 'timeout';

export interface ExecResult {
  outcome: Outcome;
  /** Responses received, in order (without size prefix). */
  responses: number;
  /** Broken promises: a response that does not belong to a request or does not decode. */
  violations: string[];
  /** API key of the fuzzed request (for statistics). */
  apiKey: number;
}

/**
 * Checks one response against the requests sent, in order. Returns the index of the request it
 * answers, or a violation.
 */
export function matchResponse(requests: RequestInfo[], from: number, payload: Buffer, apiVersionsMax: number): { index: number } | { violation: string } {
  if (payload.length < 4) return { violation: `response of ${payload.length} bytes has no correlation id` };
  const correlationId = payload.readInt32BE(0);
  // Requests may go unanswered only when the broker sends nothing by design (Produce acks=0).
  let i = from;
  while (i < requests.length && requests[i]!.correlationId !== correlationId) {
    if (requests[i]!.apiKey !== 0) {
      return { violation: `response with correlation id ${correlationId} where ${requests[i]!.correlationId} (api ${requests[i]!.apiKey}) was due` };
    }
    i++;
  }
  if (i >= requests.length) return { violation: `response with unknown correlation id ${correlationId}` };
  const req = requests[i]!;
  const problem = checkResponseBody(req, payload, apiVersionsMax);
  return problem ? { violation: problem } : { index: i };
}

/** The response must decode with the generated codec of the request's version, to its last byte. */
export function checkResponseBody(req: RequestInfo, payload: Buffer, apiVersionsMax: number): string | null {
  const codec = API_CODECS.get(req.apiKey);
  if (!codec) return `response to unknown api key ${req.apiKey}`;
  let version = req.apiVersion;
  // KIP-511: an ApiVersions request of an unsupported version is answered with a v0 body.
  if (req.apiKey === API_VERSIONS && (version < 0 || version > apiVersionsMax)) version = 0;
  if (version < codec.minVersion || version > codec.maxVersion) return `response to unsupported ${codec.name} v${req.apiVersion}`;
  const r = new Reader(payload, 4);
  try {
    if (responseHeaderVersion(req.apiKey, version) >= 1) r.skipTaggedFields();
    codec.readResponse(r, version);
  } catch (err) {
    return `${codec.name} v${version} response does not decode: ${(err as Error).message}`;
  }
  if (r.pos !== payload.length) return `${codec.name} v${version} response has ${payload.length - r.pos} trailing bytes`;
  return null;
}

/**
 * Sends one input (plus the sentinel) on a new connection and waits until the sentinel is answered,
 * the broker closes the connection, or the deadline passes.
 */
export function execFrame(port: number, input: Buffer, opts: { timeoutMs: number; apiVersionsMax: number; host?: string }): Promise<ExecResult> {
  const { timeoutMs, apiVersionsMax, host = '127.0.0.1' } = opts;
  const sentinel = apiVersionsFrame(SENTINEL_CORRELATION_ID);
  const bytes = Buffer.concat([input, sentinel]);
  const requests = splitRequests(bytes);
  const apiKey = input.length >= 6 ? input.readInt16BE(4) : -1;
  return new Promise((resolve) => {
    const violations: string[] = [];
    let responses = 0;
    let next = 0;
    let buffered = Buffer.alloc(0);
    let done = false;
    const sock = net.connect({ port, host });
    const finish = (outcome: Outcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ outcome, responses, violations, apiKey });
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    sock.on('connect', () => sock.write(bytes));
    sock.on('error', () => finish('closed'));
    sock.on('close', () => finish('closed'));
    sock.on('data', (chunk) => {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      while (buffered.length >= 4) {
        const size = buffered.readInt32BE(0);
        if (size < 0) {
          violations.push(`response frame with negative size ${size}`);
          finish('closed');
          return;
        }
        if (buffered.length < 4 + size) break;
        const payload = buffered.subarray(4, 4 + size);
        buffered = buffered.subarray(4 + size);
        responses++;
        const m = matchResponse(requests, next, payload, apiVersionsMax);
        if ('violation' in m) {
          violations.push(m.violation);
          finish('closed');
          return;
        }
        next = m.index + 1;
        if (requests[m.index]!.correlationId === SENTINEL_CORRELATION_ID && m.index === requests.length - 1) {
          finish('answered');
          return;
        }
      }
    });
  });
}

/** One request/response round trip on an open connection (for the well-behaved client). */
export function roundTrip(sock: net.Socket, frame: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length >= 4 && buffered.length >= 4 + buffered.readInt32BE(0)) {
        cleanup();
        resolve(buffered.subarray(4, 4 + buffered.readInt32BE(0)));
      }
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('connection closed'));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      sock.off('data', onData);
      sock.off('close', onClose);
    };
    sock.on('data', onData);
    sock.on('close', onClose);
    sock.write(frame);
  });
}

export function connect(port: number, host = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host });
    s.once('connect', () => {
      s.off('error', reject);
      // Errors after connecting (ECONNRESET when the broker closes) surface as 'close' to roundTrip;
      // without a listener they would be uncaught exceptions in the fuzzer's process.
      s.on('error', () => undefined);
      resolve(s);
    });
    s.once('error', reject);
  });
}
