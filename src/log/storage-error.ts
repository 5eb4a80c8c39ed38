/**
 * What counts as a storage failure, and the error a client sees for one (Kafka's IOException →
 * KafkaStorageException → KAFKA_STORAGE_ERROR).
 *
 * An I/O error is any error the operating system reported for a file operation (Node's system errors carry
 * `code` and `syscall`: ENOSPC, EIO, EROFS, EDQUOT, ...). Kafka takes the whole log dir offline on any
 * IOException under it, because after a failed write or fsync the state of the files is unknown; kfk does the
 * same (src/log/log-manager.ts, handleLogDirFailure). Errors without an errno (a RangeError, a bug) are not
 * storage failures and keep their own meaning, and neither is running out of file descriptors.
 */
import { ErrorCode, KafkaError } from '../protocol/errors.js';

export function isStorageIoError(e: unknown): e is NodeJS.ErrnoException {
  if (!(e instanceof Error)) return false;
  const err = e as NodeJS.ErrnoException;
  // Out of descriptors (EMFILE, ENFILE) says nothing about the disk: never a reason to take a log dir offline
  // (src/log/fd-cache.ts turns it into a retriable error for the request that met it).
  if (err.code === 'EMFILE' || err.code === 'ENFILE') return false;
  return typeof err.code === 'string' && typeof err.syscall === 'string';
}

/** KAFKA_STORAGE_ERROR (56), the answer for a partition whose log dir failed (Kafka's KafkaStorageException). */
export class KafkaStorageException extends KafkaError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCode.KAFKA_STORAGE_ERROR, message);
    this.name = 'KafkaStorageException';
    if (cause !== undefined) this.cause = cause;
  }
}

/** `ENOSPC: no space left on device, write` → as it is; other errors → their message. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

/** An I/O error made up by kfk for a condition the OS reported without an errno (a write that made no progress). */
export function syntheticIoError(code: string, syscall: string, message: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${code}: ${message}, ${syscall}`);
  err.code = code;
  err.syscall = syscall;
  return err;
}

/**
 * Records a second failure met while cleaning up after a first one (Java's addSuppressed): the first error is
 * the one thrown and reported; the second stays visible on it as `suppressed` instead of vanishing.
 */
export function addSuppressed(original: unknown, secondary: unknown): void {
  if (typeof original !== 'object' || original === null) return;
  const o = original as { suppressed?: unknown[] };
  (o.suppressed ??= []).push(secondary);
}
