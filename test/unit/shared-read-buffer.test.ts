/**
 * src/server/shared-read-buffer.ts: an accepted (paused) socket handed to a socket reading into the shared
 * buffer, and the fallback when Node offers no handle to hand over.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { adoptWithSharedReadBuffer } from '../../src/server/shared-read-buffer.js';
import { waitFor } from '../helpers/wait.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function pausedServer(onSocket: (socket: net.Socket) => void): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer({ pauseOnConnect: true }, onSocket);
    cleanups.push(() => server.close());
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}

describe('adoptWithSharedReadBuffer', () => {
  it('reads a connection through the shared buffer: every byte arrives, in order, and the socket still writes and closes', async () => {
    const received: Buffer[] = [];
    let adopted: net.Socket | null = null;
    const port = await pausedServer((raw) => {
      adopted = adoptWithSharedReadBuffer(raw, (chunk) => received.push(Buffer.from(chunk))); // copied: the buffer is reused
      adopted?.on('end', () => adopted?.end('bye'));
    });
    const payload = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
    const client = net.connect(port, '127.0.0.1');
    cleanups.push(() => client.destroy());
    const reply: Buffer[] = [];
    client.on('data', (d: Buffer) => reply.push(d));
    client.end(payload);
    await waitFor(() => Buffer.concat(reply).toString() === 'bye', { message: 'the adopted socket answers after the client ends' });
    expect(adopted).not.toBeNull();
    expect(received.length).toBeGreaterThan(1); // several reads, all through one reused buffer
    expect(Buffer.concat(received).equals(payload)).toBe(true);
  });

  it('returns null, leaving the socket alone, when there is no handle to hand over', () => {
    const socket = new net.Socket();
    cleanups.push(() => socket.destroy());
    expect(adoptWithSharedReadBuffer(socket, () => {})).toBeNull();
    expect(socket.destroyed).toBe(false);
  });
});
