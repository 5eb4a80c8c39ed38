export interface WaitForOptions {
  /** Give up after this long (default 10 000 ms). */
  timeoutMs?: number;
  /** Delay between polls (default 50 ms). */
  intervalMs?: number;
  /** Included in the timeout error, e.g. 'consumer group to become Stable'. */
  message?: string;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Poll `cond` until it returns (or resolves to) true. If `cond` throws, polling continues and the last error is
 * reported when the deadline passes. Rejects with `Timed out after Nms waiting for <message>`.
 */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  opts: WaitForOptions = {},
): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await cond()) return;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const what = opts.message ?? 'condition';
      const cause = lastError === undefined ? '' : ` (last error: ${errorText(lastError)})`;
      throw new Error(`Timed out after ${timeoutMs}ms waiting for ${what}${cause}`);
    }
    await sleep(Math.max(0, Math.min(intervalMs, deadline - Date.now())));
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
