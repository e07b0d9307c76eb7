import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { commitSections, expireHolds, setProduct, settleHold, type OrderJob } from '@flashline/core';
import { useListeningDashboard } from './fixture.ts';
import { readEvents } from './saleEvents.ts';

describe('sale panel: held units', () => {
  const ctx = useListeningDashboard('held', { intervalMs: 100 });

  it('shows units held now, paid, expired and cancelled, and the share of ended holds paid, per product and in total', async () => {
    const { redis, keys } = ctx.fixture;
    const rules = { orderRetentionMs: 60_000, events: false };
    // Two products, five one-unit holds each: per product 2 paid, 1 cancelled, 1 expired, 1 still held.
    for (const [productId, holdSeconds] of [
      ['a', 1],
      ['b', 1],
    ] as const) {
      await setProduct(redis, keys, productId, { stock: 10, holdSeconds });
      const orders: OrderJob[] = Array.from({ length: 4 }, (_, i) => ({
        orderId: `${productId}.x${i}`.padEnd(productId.length + 17, '0'),
        productId,
        userId: `u${i}`,
        quantity: 1,
      }));
      for (const { orderId, userId } of orders) {
        await redis.hset(keys.order(productId, orderId), {
          productId,
          userId,
          quantity: 1,
          status: 'queued',
          createdAt: Date.now(),
        });
      }
      await commitSections(redis, keys, [{ productId, orders, fence: 'claim' }], {
        maxQuantity: 10,
        orderRetentionMs: 60_000,
      });
      await settleHold(redis, keys, `${productId}.x0`.padEnd(18, '0'), 'confirm', rules);
      await settleHold(redis, keys, `${productId}.x1`.padEnd(18, '0'), 'confirm', rules);
      await settleHold(redis, keys, `${productId}.x2`.padEnd(18, '0'), 'cancel', rules);
    }
    await sleep(1100);
    await expireHolds(redis, keys, 'a', rules);
    await expireHolds(redis, keys, 'b', rules);
    // And one more hold on a, decided now: held.
    await setProduct(redis, keys, 'a', { stock: 7, holdSeconds: 600 });
    await redis.hset(keys.order('a', 'a.x9000000000000000'), {
      productId: 'a',
      userId: 'late',
      quantity: 1,
      status: 'queued',
      createdAt: Date.now(),
    });
    await commitSections(
      redis,
      keys,
      [
        {
          productId: 'a',
          orders: [{ orderId: 'a.x9000000000000000', productId: 'a', userId: 'late', quantity: 1 }],
          fence: 'claim',
        },
      ],
      {
        maxQuantity: 10,
        orderRetentionMs: 60_000,
      },
    );

    const [view] = await readEvents(`${ctx.base}/sale/events?sort=name`, 2).then((views) => views.slice(-1));
    const a = view!.rows.find((row) => row.productId === 'a')!;
    assert.equal(a.reserved, 1);
    assert.deepEqual(a.holds, { units: 5, paid: 2, expired: 1, cancelled: 1 });
    assert.equal(a.paidShare, 0.5);
    assert.equal(a.sold, 2);
    assert.equal(a.held, 5);
    const t = view!.totals;
    assert.equal(t.reserved, 1);
    assert.deepEqual(t.holds, { units: 9, paid: 4, expired: 2, cancelled: 2 });
    assert.equal(t.paidShare, 0.5);
  });
});
