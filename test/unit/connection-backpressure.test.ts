/**
 * A client that pipelines thousands of requests and does not read its responses for a while:
 * the broker stops reading from it (bounded memory) and, once the client reads again, answers
 * every request, in order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { startBroker, type StartedBroker } from '../../src/index.js';
import { Writer } from '../../src/protocol/primitives.js';
import { writeRequestHeader, sizeRequestHeader } from '../../src/protocol/generated/request-header.js';
import { waitFor } from '../helpers/wait.js';

describe('connection back-pressure', () => {
  let broker: StartedBroker;
  beforeAll(async () => {
    broker = await startBroker();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('answers 5000 pipelined requests in order after the client resumes reading', async () => {
    const n = 5000;
    const frames: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      // Metadata v1 with an empty topic list: a response of some size, so the socket buffers fill up.
      const header = { requestApiKey: 3, requestApiVersion: 1, correlationId: i, clientId: 'bp' };
      const size = sizeRequestHeader(header, 1) + 4;
      const w = Writer.alloc(4 + size);
      w.int32(size);
      writeRequestHeader(w, header, 1);
      w.int32(0);
      frames.push(w.buf);
    }
    const socket = connect(broker.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.pause();
    socket.write(Buffer.concat(frames));
    await new Promise((r) => setTimeout(r, 300));
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.resume();
    const ids: number[] = [];
    await waitFor(
      () => {
        const buf = Buffer.concat(chunks);
        ids.length = 0;
        let p = 0;
        while (p + 8 <= buf.length) {
          const size = buf.readInt32BE(p);
          if (p + 4 + size > buf.length) break;
          ids.push(buf.readInt32BE(p + 4));
          p += 4 + size;
        }
        return ids.length === n;
      },
      { timeoutMs: 30_000, message: 'all responses' },
    );
    socket.destroy();
    expect(ids).toEqual(Array.from({ length: n }, (_, i) => i));
  });
});
