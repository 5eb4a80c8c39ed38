/**
 * Process-level handlers of the `kfk server start` process (never of the library: startBroker() leaves the
 * user's process alone). An uncaught exception or unhandled rejection means a bug in kfk: rather than let Node
 * die in the middle of a write, the error is logged with its stack and the broker is shut down as cleanly as
 * it can be: listeners stopped, logs flushed, checkpoints written, registry left. It writes no clean-shutdown
 * marker (memory may no longer match the files, so the next start re-validates the logs' tails), and the
 * process exits with code 1. A second fatal error while that shutdown runs exits at once, as does a shutdown
 * that does not finish within the deadline.
 */
import type { EventEmitter } from 'node:events';
import type { Logger } from '../src/server/logger.js';

export const FATAL_EXIT_CODE = 1;

export interface FatalErrorOptions {
  logger: Logger;
  /** Stops the broker after a fatal error (without the clean-shutdown marker); resolves when done. */
  shutdown: () => Promise<void>;
  /** Ends the process with this code once the shutdown is over (default: process.exit). */
  exit?: (code: number) => void;
  /** Ends the process at once, the shutdown unfinished (default: process.exit). */
  exitNow?: (code: number) => void;
  /** The process to listen on (default: process); tests pass an EventEmitter. */
  proc?: EventEmitter;
  /** Give up on the shutdown after this long and exit (default 30 s). */
  deadlineMs?: number;
}

export interface FatalErrorHandlers {
  /** True once a fatal error has been seen (a SIGTERM shutdown then must not start a second one). */
  readonly triggered: boolean;
  /** Marks a shutdown in progress for another reason (SIGTERM): a fatal error during it exits at once. */
  shuttingDown(): void;
  uninstall(): void;
}

function stackOf(err: unknown): string {
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
  try {
    return `non-error value: ${String(err)}`;
  } catch {
    return 'non-error value';
  }
}

export function installFatalErrorHandlers(opts: FatalErrorOptions): FatalErrorHandlers {
  const proc = opts.proc ?? process;
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  const exitNow = opts.exitNow ?? ((code: number) => process.exit(code));
  let triggered = false;
  let stopping = false;

  const fatal = (what: string, err: unknown): void => {
    if (stopping) {
      // a shutdown is under way (after an earlier fatal error, or SIGTERM): do not wait for it
      opts.logger.error(`${what} during shutdown, exiting at once: ${stackOf(err)}`);
      exitNow(FATAL_EXIT_CODE);
      return;
    }
    triggered = true;
    stopping = true;
    opts.logger.error(`${what}: ${stackOf(err)}`);
    opts.logger.error('shutting down after a fatal error: stopping listeners, flushing logs, writing checkpoints (no clean-shutdown marker)');
    const deadline = setTimeout(() => {
      opts.logger.error(`shutdown after a fatal error did not finish within ${opts.deadlineMs ?? 30_000} ms, exiting`);
      exitNow(FATAL_EXIT_CODE);
    }, opts.deadlineMs ?? 30_000);
    deadline.unref();
    let done: Promise<void>;
    try {
      done = opts.shutdown();
    } catch (e) {
      done = Promise.reject(e);
    }
    done.then(
      () => {
        clearTimeout(deadline);
        opts.logger.error(`shut down after a fatal error; exit code ${FATAL_EXIT_CODE}`);
        exit(FATAL_EXIT_CODE);
      },
      (e: unknown) => {
        clearTimeout(deadline);
        opts.logger.error(`shutdown after a fatal error failed: ${stackOf(e)}`);
        exit(FATAL_EXIT_CODE);
      },
    );
  };

  const onException = (err: unknown): void => fatal('uncaught exception', err);
  const onRejection = (reason: unknown): void => fatal('unhandled promise rejection', reason);
  proc.on('uncaughtException', onException);
  proc.on('unhandledRejection', onRejection);
  return {
    get triggered() {
      return triggered;
    },
    shuttingDown() {
      stopping = true;
    },
    uninstall() {
      proc.off('uncaughtException', onException);
      proc.off('unhandledRejection', onRejection);
    },
  };
}
