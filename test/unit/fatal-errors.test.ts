/**
 * The process-level fatal-error handlers of `kfk server start` (commands/fatal-errors.ts), on an EventEmitter
 * standing in for the process: log with the stack, one shutdown, exit code 1; a second fatal error during the
 * shutdown, or a shutdown past its deadline, exits at once. And the library installs no process handlers.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { FATAL_EXIT_CODE, installFatalErrorHandlers } from '../../commands/fatal-errors.js';
import { createLogger } from '../../src/server/logger.js';
import { startBroker } from '../../src/index.js';
import { waitFor } from '../helpers/wait.js';

function harness(shutdown: () => Promise<void>, deadlineMs?: number) {
  const proc = new EventEmitter();
  const lines: string[] = [];
  const exits: { code: number; now: boolean }[] = [];
  const handlers = installFatalErrorHandlers({
    proc,
    logger: createLogger('info', (l) => lines.push(l)),
    shutdown,
    exit: (code) => exits.push({ code, now: false }),
    exitNow: (code) => exits.push({ code, now: true }),
    ...(deadlineMs !== undefined ? { deadlineMs } : {}),
  });
  return { proc, lines, exits, handlers };
}

describe('fatal-error handlers', () => {
  it('an uncaught exception is logged with its stack, shuts down once, and exits 1 when the shutdown is done', async () => {
    let shutdowns = 0;
    let finishShutdown!: () => void;
    const h = harness(() => {
      shutdowns++;
      return new Promise<void>((resolve) => (finishShutdown = resolve));
    });
    h.proc.emit('uncaughtException', new Error('bug'));
    expect(h.handlers.triggered).toBe(true);
    expect(shutdowns).toBe(1);
    expect(h.lines.join('')).toMatch(/ERROR uncaught exception: Error: bug\n\s+at /);
    expect(h.exits).toEqual([]); // not before the shutdown is done
    finishShutdown();
    await waitFor(() => h.exits.length === 1, { message: 'exit after shutdown' });
    expect(h.exits).toEqual([{ code: FATAL_EXIT_CODE, now: false }]);
    expect(FATAL_EXIT_CODE).not.toBe(0);
    h.handlers.uninstall();
  });

  it('an unhandled rejection does the same', async () => {
    const h = harness(async () => {});
    h.proc.emit('unhandledRejection', new Error('forgotten promise'), Promise.resolve());
    await waitFor(() => h.exits.length === 1, { message: 'exit after shutdown' });
    expect(h.lines.join('')).toMatch(/ERROR unhandled promise rejection: Error: forgotten promise/);
    expect(h.exits).toEqual([{ code: 1, now: false }]);
    h.handlers.uninstall();
  });

  it('a second fatal error during the shutdown exits at once', () => {
    const h = harness(() => new Promise<void>(() => {})); // never finishes
    h.proc.emit('uncaughtException', new Error('first'));
    h.proc.emit('unhandledRejection', 'second');
    expect(h.exits).toEqual([{ code: 1, now: true }]);
    expect(h.lines.join('')).toMatch(/unhandled promise rejection during shutdown, exiting at once: non-error value: second/);
    h.handlers.uninstall();
  });

  it('a fatal error while a SIGTERM shutdown runs exits at once', () => {
    const h = harness(async () => {});
    h.handlers.shuttingDown();
    h.proc.emit('uncaughtException', new Error('late'));
    expect(h.exits).toEqual([{ code: 1, now: true }]);
    h.handlers.uninstall();
  });

  it('a shutdown that fails, or does not finish in time, still exits 1', async () => {
    const failing = harness(() => Promise.reject(new Error('flush failed')));
    failing.proc.emit('uncaughtException', new Error('bug'));
    await waitFor(() => failing.exits.length === 1, { message: 'exit after a failed shutdown' });
    expect(failing.exits).toEqual([{ code: 1, now: false }]);
    expect(failing.lines.join('')).toMatch(/shutdown after a fatal error failed: Error: flush failed/);
    failing.handlers.uninstall();

    const stuck = harness(() => new Promise<void>(() => {}), 50);
    stuck.proc.emit('uncaughtException', new Error('bug'));
    await waitFor(() => stuck.exits.length === 1, { message: 'exit at the deadline' });
    expect(stuck.exits).toEqual([{ code: 1, now: true }]);
    stuck.handlers.uninstall();
  });

  it('uninstall removes the listeners', () => {
    const h = harness(async () => {});
    expect(h.proc.listenerCount('uncaughtException')).toBe(1);
    expect(h.proc.listenerCount('unhandledRejection')).toBe(1);
    h.handlers.uninstall();
    expect(h.proc.listenerCount('uncaughtException')).toBe(0);
    expect(h.proc.listenerCount('unhandledRejection')).toBe(0);
  });
});

describe('the library', () => {
  it("startBroker() installs no process-level handlers in the user's process", async () => {
    const before = [process.listenerCount('uncaughtException'), process.listenerCount('unhandledRejection')];
    const broker = await startBroker();
    try {
      expect([process.listenerCount('uncaughtException'), process.listenerCount('unhandledRejection')]).toEqual(before);
    } finally {
      await broker.stop();
    }
  });
});
