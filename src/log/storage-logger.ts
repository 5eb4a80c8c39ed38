/**
 * The logger the storage engine writes to: the broker's logger fits it (src/server/logger.ts); on its own
 * (tests, tools) failures go to stderr, never nowhere.
 */
export interface StorageLogger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

const line = (level: string) => (msg: string) => {
  process.stderr.write(`[${new Date().toISOString()}] ${level} ${msg}\n`);
};

/** Warnings and errors to stderr; debug and info dropped. */
export const stderrStorageLogger: StorageLogger = { debug() {}, info() {}, warn: line('WARN'), error: line('ERROR') };

/** An error with its stack when it has one (a bug needs the stack; an errno message is enough for I/O). */
export function errorDetail(err: unknown): string {
  if (err instanceof Error) return err.stack ?? err.message;
  return String(err);
}
