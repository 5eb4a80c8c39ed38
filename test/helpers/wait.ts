export interface WaitForOptions {
  /** Give up after this long (default 10 000 ms). */
  timeoutMs?: number;
  /** Delay between polls (default 50 ms). */
  intervalMs?: number;
  /** Included in the timeout error, e.g. 'consumer group to become Stable'. */
  message?: string;
}

/**
 * Waits `ms`. Not for synchronisation: to wait for something that should happen, poll it with waitFor. A sleep is
 * right only where time itself is the point (pacing writes or load, letting a record age past a retention setting),
 * with a comment that says so; for a negative check use quietPeriod.
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A negative check's wait: gives something that must NOT happen (a response before its trigger, a second watch
 * event, a record that must not be delivered) `ms` to happen, before the test asserts that it did not. On a slow
 * machine such a check can miss a late event, but never fails a correct program.
 */
export function quietPeriod(ms: number): Promise<void> {
  return sleep(ms);
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
