/**
 * Test-only fault injection for `kfk server start` (docs/testing.md, "Fault injection"). Nothing a client can
 * send makes a handler throw or a response unencodable any more, nor reaches the process's fatal-error path,
 * so the tests of those mechanisms need a deliberate fault. It is off unless the broker process is started
 * with KFK_TEST_FAULT=1; then a request whose client id is `kfk-test-fault:<kind>` misbehaves:
 *
 *   throw                the handler throws synchronously
 *   reject               the handler returns a rejected promise
 *   encode-sync          the handler returns, synchronously, a response the encoder cannot encode
 *   encode-async         the same through a promise
 *   uncaught-exception   an exception is thrown outside any request (then the request is served normally)
 *   unhandled-rejection  a promise is rejected with no handler (then the request is served normally)
 *   fatal-twice          an uncaught exception, and another one while the broker shuts down because of it
 *
 * Any other client id is served by the real handler.
 *
 * With KFK_TEST_FAULT=1, KFK_TEST_TXN_FAULT=halt-before-markers also makes the broker whose transaction coordinator
 * first writes a PrepareCommit die right after that write, before it sends any marker (a single broker process
 * kills itself with SIGKILL; in `--brokers N` that broker is killed in-process, as startCluster().killBroker does).
 * The failover between PrepareCommit and the markers is then exact: the new coordinator must complete the commit.
 */
import type { ApiHandler } from '../src/server/request.js';

export const TEST_FAULT_ENV = 'KFK_TEST_FAULT';
export const TEST_FAULT_CLIENT_PREFIX = 'kfk-test-fault:';
export const TEST_TXN_FAULT_ENV = 'KFK_TEST_TXN_FAULT';

/**
 * The transaction coordinator hook of KFK_TEST_TXN_FAULT (null when not asked for): it fires once, on the first
 * PrepareCommit written in this process, calls `halt(brokerId)` and halts that coordinator.
 */
export function txnFaultHook(
  env: NodeJS.ProcessEnv,
  halt: (brokerId: number) => void,
  warn: (message: string) => void,
): ((brokerId: number, transactionalId: string, commit: boolean) => boolean) | null {
  if (!testFaultsEnabled(env)) return null;
  const kind = env[TEST_TXN_FAULT_ENV];
  if (kind === undefined || kind === '') return null;
  if (kind !== 'halt-before-markers') throw new Error(`${TEST_TXN_FAULT_ENV}=${kind}: the only fault is halt-before-markers`);
  let fired = false;
  return (brokerId, transactionalId, commit) => {
    if (fired || !commit) return false;
    fired = true;
    warn(`${TEST_TXN_FAULT_ENV}=halt-before-markers: broker ${brokerId} dies after writing PrepareCommit of ${transactionalId}, before its markers`);
    halt(brokerId);
    return true;
  };
}

export function testFaultsEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[TEST_FAULT_ENV] === '1';
}

/** A response object that fails the encoder's first field access, as a handler bug would (e.g. a bad value). */
function unencodable(): Record<string, unknown> {
  return new Proxy(
    {},
    {
      get(_target, prop) {
        if (prop === 'then') return undefined; // not a thenable: a promise may resolve to it
        throw new RangeError(`KFK_TEST_FAULT: response field ${String(prop)} cannot be encoded`);
      },
    },
  );
}

export function withTestFaults(handler: ApiHandler): ApiHandler {
  return {
    apiKey: handler.apiKey,
    minVersion: handler.minVersion,
    maxVersion: handler.maxVersion,
    handle(request, ctx) {
      const id = ctx.clientId ?? '';
      if (!id.startsWith(TEST_FAULT_CLIENT_PREFIX)) return handler.handle(request, ctx);
      const kind = id.slice(TEST_FAULT_CLIENT_PREFIX.length);
      switch (kind) {
        case 'throw':
          throw new Error('KFK_TEST_FAULT: the handler throws');
        case 'reject':
          return Promise.reject(new Error('KFK_TEST_FAULT: the handler rejects'));
        case 'encode-sync':
          return unencodable();
        case 'encode-async':
          return Promise.resolve().then(unencodable);
        case 'uncaught-exception':
          setImmediate(() => {
            throw new Error('KFK_TEST_FAULT: uncaught exception');
          });
          break;
        case 'unhandled-rejection':
          void Promise.reject(new Error('KFK_TEST_FAULT: unhandled rejection'));
          break;
        case 'fatal-twice':
          setImmediate(() => {
            // the second one fires on a later turn of the event loop, while the shutdown runs
            setImmediate(() => {
              throw new Error('KFK_TEST_FAULT: second uncaught exception');
            });
            throw new Error('KFK_TEST_FAULT: first uncaught exception');
          });
          break;
        default:
          break;
      }
      return handler.handle(request, ctx);
    },
  };
}
