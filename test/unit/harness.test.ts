import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  FrameSplitter,
  RunTimeoutError,
  freePort,
  listFrameFixtures,
  loadFrame,
  makeTempDir,
  cleanupTempDirs,
  parseRequestHeader,
  run,
  sleep,
  spawnProcess,
  startRecordingProxy,
  stopAllProcesses,
  waitFor,
  type RecordingProxy,
} from '../helpers/index.js';

/** A request frame: size, api_key, api_version, correlation_id, client_id, payload. */
function requestFrame(apiKey: number, apiVersion: number, correlationId: number, payload: Buffer): Buffer {
  const clientId = Buffer.from('harness');
  const body = Buffer.alloc(10 + clientId.length);
  body.writeInt16BE(apiKey, 0);
  body.writeInt16BE(apiVersion, 2);
  body.writeInt32BE(correlationId, 4);
  body.writeInt16BE(clientId.length, 8);
  clientId.copy(body, 10);
  const all = Buffer.concat([body, payload]);
  const size = Buffer.alloc(4);
  size.writeInt32BE(all.length, 0);
  return Buffer.concat([size, all]);
}

function responseFrame(correlationId: number, payload: Buffer): Buffer {
  const f = Buffer.alloc(8 + payload.length);
  f.writeInt32BE(4 + payload.length, 0);
  f.writeInt32BE(correlationId, 4);
  payload.copy(f, 8);
  return f;
}

/** Split `buf` into pieces at the given offsets. */
function cut(buf: Buffer, at: number[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const a of [...at, buf.length]) {
    out.push(buf.subarray(prev, a));
    prev = a;
  }
  return out;
}

describe('FrameSplitter', () => {
  const a = requestFrame(18, 3, 1, Buffer.from('hello'));
  const b = requestFrame(3, 0, 2, Buffer.alloc(0));
  const empty = Buffer.from([0, 0, 0, 0]);

  it('returns whole frames from one chunk each', () => {
    const s = new FrameSplitter();
    expect(s.push(a)).toEqual([a]);
    expect(s.push(b)).toEqual([b]);
    expect(s.pending()).toBe(0);
  });

  it('reassembles a frame fed one byte at a time', () => {
    const s = new FrameSplitter();
    const got: Buffer[] = [];
    for (let i = 0; i < a.length; i++) {
      const frames = s.push(a.subarray(i, i + 1));
      if (i < a.length - 1) expect(frames).toEqual([]);
      got.push(...frames);
    }
    expect(got).toEqual([a]);
  });

  it('splits merged frames, including a zero-length one, and keeps the partial tail', () => {
    const s = new FrameSplitter();
    const merged = Buffer.concat([a, empty, b, a.subarray(0, 6)]);
    expect(s.push(merged)).toEqual([a, empty, b]);
    expect(s.pending()).toBe(6);
    expect(s.push(a.subarray(6))).toEqual([a]);
    expect(s.pending()).toBe(0);
  });

  it('handles every split point of two merged frames', () => {
    const stream = Buffer.concat([a, b]);
    for (let i = 1; i < stream.length; i++) {
      for (const j of [i + 1, i + 3, stream.length - 1]) {
        if (j <= i || j >= stream.length) continue;
        const s = new FrameSplitter();
        const got = cut(stream, [i, j]).flatMap((c) => s.push(c));
        expect(got).toEqual([a, b]);
      }
    }
  });

  it('stops on a negative size prefix instead of buffering forever', () => {
    const s = new FrameSplitter();
    expect(s.push(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2]))).toEqual([]);
    expect(s.broken).toMatch(/invalid frame size -1/);
    expect(s.push(a)).toEqual([]);
  });

  it('parses request headers', () => {
    expect(parseRequestHeader(a)).toEqual({ apiKey: 18, apiVersion: 3, correlationId: 1, clientId: 'harness' });
  });
});

describe('startRecordingProxy', () => {
  let upstream: net.Server | undefined;
  let proxy: RecordingProxy | undefined;
  const sockets = new Set<net.Socket>();

  afterEach(async () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
    await proxy?.close();
    proxy = undefined;
    await new Promise<void>((r) => (upstream ? upstream.close(() => r()) : r()));
    upstream = undefined;
  });

  /**
   * An echo-style upstream: for every request frame it answers `correlation_id + payload`, writing the responses
   * in awkward chunks: the first response one byte at a time, the later ones merged into one write.
   */
  async function startUpstream(): Promise<number> {
    upstream = net.createServer((sock) => {
      sockets.add(sock);
      sock.setNoDelay(true);
      const splitter = new FrameSplitter();
      let answered = 0;
      const pendingMerged: Buffer[] = [];
      // Chunks are handled one after another: the byte-by-byte answer must finish before a later
      // request's answer is written, whatever the machine's load.
      let queue: Promise<void> = Promise.resolve();
      sock.on('data', (chunk: Buffer) => {
        queue = queue.then(() => answer(chunk));
      });
      const answer = async (chunk: Buffer): Promise<void> => {
        for (const req of splitter.push(chunk)) {
          const h = parseRequestHeader(req)!;
          const payload = req.subarray(14 + (h.clientId?.length ?? 0));
          const res = responseFrame(h.correlationId, payload);
          answered++;
          if (answered === 1) {
            for (let i = 0; i < res.length; i++) {
              sock.write(res.subarray(i, i + 1));
              await sleep(1); // pacing, not synchronisation: one byte per TCP segment
            }
          } else {
            pendingMerged.push(res);
            if (pendingMerged.length === 2) sock.write(Buffer.concat(pendingMerged.splice(0)));
          }
        }
      };
      sock.on('error', () => {});
    });
    await new Promise<void>((r) => upstream!.listen({ host: '127.0.0.1', port: 0 }, () => r()));
    return (upstream.address() as net.AddressInfo).port;
  }

  it('forwards bytes unchanged and records split and merged frames in both directions', async () => {
    const port = await startUpstream();
    proxy = await startRecordingProxy(port);
    const r1 = requestFrame(18, 3, 1, Buffer.from('first'));
    const r2 = requestFrame(3, 12, 2, Buffer.from('second, a little longer'));
    const r3 = requestFrame(0, 9, 3, Buffer.alloc(3000, 7));

    const client = net.connect({ host: '127.0.0.1', port: proxy.port });
    sockets.add(client);
    client.setNoDelay(true);
    const received: Buffer[] = [];
    client.on('data', (c: Buffer) => received.push(c));
    await new Promise<void>((r) => client.once('connect', () => r()));

    // r1 split inside the size prefix and inside the header, with pauses so the pieces travel separately.
    for (const piece of cut(r1, [2, 9])) {
      client.write(piece);
      await sleep(15); // pacing, not synchronisation
    }
    // r2 and r3 merged into one write, with r3's tail in a later write.
    const merged = Buffer.concat([r2, r3]);
    client.write(merged.subarray(0, merged.length - 100));
    await sleep(15); // pacing, not synchronisation
    client.write(merged.subarray(merged.length - 100));

    const expectedResponses = [
      responseFrame(1, Buffer.from('first')),
      responseFrame(2, Buffer.from('second, a little longer')),
      responseFrame(3, Buffer.alloc(3000, 7)),
    ];
    const expectedBytes = Buffer.concat(expectedResponses);
    await waitFor(() => Buffer.concat(received).length >= expectedBytes.length, {
      timeoutMs: 5000,
      message: 'all response bytes to reach the client',
    });
    expect(Buffer.concat(received)).toEqual(expectedBytes);
    await waitFor(() => proxy!.responses().length === 3, { timeoutMs: 2000, message: 'three recorded responses' });

    const reqs = proxy.requests();
    expect(reqs.map((f) => [f.apiKey, f.apiVersion, f.correlationId, f.clientId])).toEqual([
      [18, 3, 1, 'harness'],
      [3, 12, 2, 'harness'],
      [0, 9, 3, 'harness'],
    ]);
    expect(reqs.map((f) => f.bytes)).toEqual([r1, r2, r3]);

    const resps = proxy.responses();
    expect(resps.map((f) => f.bytes)).toEqual(expectedResponses);
    // Responses inherit api key/version from the matching request.
    expect(resps.map((f) => [f.correlationId, f.apiKey, f.apiVersion])).toEqual([
      [1, 18, 3],
      [2, 3, 12],
      [3, 0, 9],
    ]);
    expect(proxy.responses(3)).toHaveLength(1);
    expect(proxy.frames().every((f) => f.connection === 0)).toBe(true);
    expect(proxy.connections()).toBe(1);
  });

  it('keeps connections apart', async () => {
    const port = await startUpstream();
    proxy = await startRecordingProxy(port);
    const clients = await Promise.all(
      [0, 1].map(
        (i) =>
          new Promise<net.Socket>((resolve) => {
            const c = net.connect({ host: '127.0.0.1', port: proxy!.port }, () => resolve(c));
            sockets.add(c);
            c.on('data', () => {});
            c.on('error', () => {});
            void i;
          }),
      ),
    );
    // Each connection gets half a frame, then the other half: interleaving must not mix the streams.
    const f0 = requestFrame(18, 0, 100, Buffer.from('zero'));
    const f1 = requestFrame(18, 0, 200, Buffer.from('one'));
    clients[0]!.write(f0.subarray(0, 7));
    clients[1]!.write(f1.subarray(0, 5));
    await sleep(20); // pacing, not synchronisation: the halves travel separately
    clients[0]!.write(f0.subarray(7));
    clients[1]!.write(f1.subarray(5));
    await waitFor(() => proxy!.requests().length === 2, { timeoutMs: 3000, message: 'two requests' });
    const byConn = new Map(proxy.requests().map((f) => [f.correlationId, f]));
    expect(byConn.get(100)!.bytes).toEqual(f0);
    expect(byConn.get(200)!.bytes).toEqual(f1);
    expect(byConn.get(100)!.connection).not.toBe(byConn.get(200)!.connection);
    expect(proxy.connections()).toBe(2);
  });
});

describe('golden frame fixtures', () => {
  const fixtures = listFrameFixtures();

  it('has the expected first requests of each client', () => {
    const key = (f: (typeof fixtures)[number]) => `${f.client}:${f.apiKey}v${f.apiVersion}`;
    expect(fixtures.map(key).sort()).toEqual(
      [
        'confluent-kafka:18v3',
        'kafka-python:18v0',
        'kafka-python:3v0',
        'kafkajs:18v2',
        'kcat:18v3',
        'platformatic:18v3',
      ].sort(),
    );
  });

  it.each(fixtures.map((f) => [f.file, f] as const))('%s is one complete frame matching the manifest', (_, f) => {
    const bytes = loadFrame(f.file);
    expect(bytes.length).toBe(f.size);
    expect(bytes.readInt32BE(0)).toBe(bytes.length - 4);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(f.sha256);
    const s = new FrameSplitter();
    expect(s.push(bytes)).toEqual([bytes]);
    expect(parseRequestHeader(bytes)).toEqual({
      apiKey: f.apiKey,
      apiVersion: f.apiVersion,
      correlationId: f.correlationId,
      clientId: f.clientId,
    });
  });
});

describe('process and misc helpers', () => {
  afterEach(async () => {
    await stopAllProcesses();
    await cleanupTempDirs();
  });

  it('freePort returns a bindable port', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen({ host: '127.0.0.1', port }, () => r()));
    await new Promise<void>((r) => srv.close(() => r()));
  });

  it('run passes stdin and captures output and exit code', async () => {
    const res = await run(
      process.execPath,
      ['-e', 'let d="";process.stdin.on("data",c=>d+=c).on("end",()=>{console.log(d.toUpperCase());console.error("e");process.exit(3)})'],
      { input: 'abc\n' },
    );
    expect(res).toMatchObject({ code: 3, stdout: 'ABC\n\n', stderr: 'e\n', timedOut: false });
  });

  it('run kills on timeout and says so', async () => {
    const p = run(process.execPath, ['-e', 'console.log("tick"); setInterval(() => {}, 1000)'], { timeoutMs: 300 });
    await expect(p).rejects.toBeInstanceOf(RunTimeoutError);
    await expect(p).rejects.toThrow(/timed out after 300ms/);
    const res = await run(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {
      timeoutMs: 200,
      allowTimeout: true,
    });
    expect(res.timedOut).toBe(true);
    expect(res.code).toBeNull();
  });

  it('spawnProcess waits for output and stops the process', async () => {
    const bg = spawnProcess(process.execPath, ['-e', 'setTimeout(() => console.log("ready"), 50); setInterval(() => {}, 1000)']);
    await bg.waitForOutput('ready', { timeoutMs: 5000 });
    const res = await bg.stop();
    expect(res.signal).toBe('SIGTERM');
    expect(bg.hasExited()).toBe(true);
  });

  it('waitFor reports the message on timeout', async () => {
    await expect(waitFor(() => false, { timeoutMs: 100, intervalMs: 10, message: 'never' })).rejects.toThrow(
      /Timed out after 100ms waiting for never/,
    );
    let n = 0;
    await waitFor(() => ++n >= 3, { intervalMs: 1 });
    expect(n).toBe(3);
  });

  it('makeTempDir creates dirs that cleanupTempDirs removes', async () => {
    const d = makeTempDir('harness-');
    expect(fs.existsSync(d)).toBe(true);
    await cleanupTempDirs();
    expect(fs.existsSync(d)).toBe(false);
  });
});
