import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { getOrder, setProduct } from '@flashline/core';
import { createHoldWorker } from '../src/holdWorker.ts';
import { createWorkerParts } from '../src/orderWorker.ts';
import { useOrderWorker } from './fixture.ts';

describe('hold expiry timer on a worker whose clock is ahead of Redis', () => {
  const fixture = useOrderWorker({ prefix: 'holdskew', attempts: 3 });

  it('ends the hold at its deadline though its timer fired early (and could not be set again under its own id)', async () => {
    const { keys } = fixture;
    await setProduct(fixture.producer, keys, 'p', { stock: 5, holdSeconds: 2 });
    const { orderId } = await fixture.place('p', 'ann');
    let held = await getOrder(fixture.producer, keys, orderId);
    while (held?.status !== 'reserved') {
      await sleep(20);
      held = await getOrder(fixture.producer, keys, orderId);
    }
    const deadline = Date.parse(held.holdExpiresAt!);

    const parts = createWorkerParts(fixture.config, fixture.redis);
    const holdWorker = createHoldWorker(fixture.config, fixture.redis, () => {}, parts, 0);
    try {
      // The timer of the deadline's slot, run now: what a worker whose clock is ~2 s ahead of Redis's does.
      const [timer] = await parts.holdsQueues.all[0]!.getDelayed();
      assert.match(timer?.id ?? '', /^expire~p~\d+$/);
      await timer!.promote();
      void holdWorker.run();
      await sleep(300);
      assert.equal((await getOrder(fixture.producer, keys, orderId))?.status, 'reserved', 'ended before its deadline');

      while (Date.now() < deadline + 1500 && (await getOrder(fixture.producer, keys, orderId))?.status === 'reserved')
        await sleep(25);
      const ended = await getOrder(fixture.producer, keys, orderId);
      assert.equal(ended?.status, 'expired', 'still reserved 1.5 s past its deadline: only the sweep would end it');
      const late = Date.parse(ended.expiredAt!) - deadline;
      assert.ok(late >= 0 && late < 600, `ended ${late} ms after its deadline`);
    } finally {
      await holdWorker.close();
      await parts.holdsQueues.close();
    }
  });
});
