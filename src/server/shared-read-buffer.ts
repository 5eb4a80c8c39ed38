/**
 * Socket reads into one buffer shared by every plaintext connection of the broker.
 *
 * By default a Node socket allocates a fresh 64 KiB buffer for every read. A producer sending 100 MB makes 1,600
 * of them, and that external memory is what made V8 run full mark-compact collections while kcat produced
 * (docs/benchmarks.md: GC was a quarter of the broker's busy time). Node can instead read into a buffer the
 * application supplies (the `onread` option of net.Socket), calling back synchronously after each read; the
 * FrameDecoder then copies the bytes straight into the buffers of their request frames. Because the callback
 * runs synchronously and the bytes are copied out before it returns, one buffer serves every connection.
 *
 * Node's server hands out sockets it created itself, without `onread`; the accepted socket (paused on connect,
 * so it has not read anything yet) gives its handle to a new socket created with `onread`. That uses Node's
 * `handle` socket option and the `_handle` property, which are not documented: when they are not there (another
 * Node version), `adopt` returns null and the connection reads the ordinary way. TLS listeners always read the
 * ordinary way (the TLS layer owns the reads).
 */
import { Socket } from 'node:net';

/** As Node's own reads (connection limits reason in reads of this size: docs/limits.md). */
const SHARED_READ_BUFFER_BYTES = 64 * 1024;
let shared: Buffer | null = null;

interface SocketInternals {
  _handle?: { readStart?: unknown } | null;
}

/**
 * A socket reading `raw`'s connection into the shared buffer and passing each read to `onRead` (the chunk is
 * valid only during the call), or null when this Node does not allow it (then `raw` is to be used, and resumed).
 * `raw` must come from a server created with `pauseOnConnect: true`; on success it is left without its handle,
 * destroyed (which only tells its server the connection is gone from its count) and must not be used.
 */
export function adoptWithSharedReadBuffer(raw: Socket, onRead: (chunk: Buffer) => void): Socket | null {
  const internals = raw as unknown as SocketInternals;
  const handle = internals._handle;
  if (!handle || typeof handle.readStart !== 'function') return null;
  shared ??= Buffer.allocUnsafe(SHARED_READ_BUFFER_BYTES);
  internals._handle = null;
  let socket: Socket;
  try {
    socket = new Socket({
      handle,
      readable: true,
      writable: true,
      onread: {
        buffer: shared,
        callback: (bytes: number, buf: Uint8Array): boolean => {
          onRead(Buffer.from(buf.buffer, buf.byteOffset, bytes));
          return true; // keep reading: the connection pauses the socket itself when it must
        },
      },
    } as unknown as ConstructorParameters<typeof Socket>[0]);
  } catch {
    internals._handle = handle;
    return null;
  }
  raw.destroy();
  return socket;
}
