/**
 * The fetch purgatory's wake-ups. A fetch reads its partitions (asynchronously) and then parks; an append in between
 * must still wake it, or it waits its whole max_wait_ms with data ready — for a follower, every acks=all produce
 * appended during its read then took replica.fetch.wait.max.ms (found by bench/zookeeper-cluster.mjs: after a
 * failover, acks=all writes on one connection completed 500 ms apart).
 */
import { describe, expect, it } from 'vitest';
import { FetchPurgatory } from '../../src/replication/fetch-purgatory.js';
import { quietPeriod } from '../helpers/wait.js';

/** Whether the promise has settled (after letting pending callbacks run). */
async function settled(p: Promise<void>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  return done;
}

describe('FetchPurgatory', () => {
  it('wakes a wait whose key was notified after the mark taken before the read, at once', async () => {
    const purgatory = new FetchPurgatory();
    const mark = purgatory.mark();
    purgatory.notify('t\u00000'); // an append while the fetch was reading
    // Ten minutes: without the mark, this wait would outlast the test.
    await purgatory.wait(['t\u00000', 't\u00001'], 600_000, mark);
  });

  it('parks when its keys were notified only before the mark, or other keys after it, until a notification', async () => {
    const purgatory = new FetchPurgatory();
    purgatory.notify('t\u00000');
    const mark = purgatory.mark();
    purgatory.notify('other\u00000');
    const waiting = purgatory.wait(['t\u00000'], 600_000, mark);
    await quietPeriod(50);
    expect(await settled(waiting)).toBe(false);
    purgatory.notify('t\u00000');
    expect(await settled(waiting)).toBe(true);
  });

  it('without a mark, waits for the next notification or the timeout as before', async () => {
    const purgatory = new FetchPurgatory();
    purgatory.notify('t\u00000');
    const waiting = purgatory.wait(['t\u00000'], 600_000);
    expect(await settled(waiting)).toBe(false);
    purgatory.notify('t\u00000');
    expect(await settled(waiting)).toBe(true);
    await purgatory.wait(['t\u00000'], 1); // the timeout
  });
});
