import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  SYSTEM_ADMIN_TOKEN,
  bodyOf,
  mapConcurrent,
  products,
  requestJson,
  runScenario,
  scanKeys,
  setUpProducts,
  startSystem,
} from '@flashline/test-utils';

const admin = { authorization: `Bearer ${SYSTEM_ADMIN_TOKEN}` };

describe('a sale with held units, end to end (real API and workers)', () => {
  it('the shop confirms and cancels, the rest expire on time: every unit free, held or sold, once', async (t) => {
    const { report, violations } = await runScenario({
      products: products(10, 100).map((p) => ({ ...p, holdSeconds: 2 })),
      orders: 1500,
      seed: 21,
      system: { workers: 2 },
      // Some answers come after the deadline: the shop is told hold_expired, and refunds.
      shop: { confirm: 0.5, cancel: 0.2, maxDelayMs: 3000, seed: 5 },
      fault: async () => {},
    });
    t.diagnostic(`report ${JSON.stringify(report)}`);
    assert.deepEqual(violations, {});
    assert.ok((report.decided.confirmed ?? 0) > 100, 'paid holds');
    assert.ok((report.decided.cancelled ?? 0) > 20, 'cancelled holds');
    assert.ok((report.decided.expired ?? 0) > 50, 'expired holds');
    assert.ok((report.shop?.['confirm 409 hold_expired'] ?? 0) > 0, 'a late confirm was refused');
    // Each expired hold ended within a second of its deadline, by its timer.
    assert.ok(
      report.hold_release_lag_ms!.max < 1000,
      `holds ended late: ${JSON.stringify(report.hold_release_lag_ms)}`,
    );
  });

  it('holds that expire together are all released at once, and their units sold again', async (t) => {
    const system = await startSystem({ workers: 2 });
    try {
      const units = 500;
      await setUpProducts(system.apiUrl, [{ productId: 'drop', stock: units, holdSeconds: 1 }]);
      const buy = (prefix: string) =>
        mapConcurrent(
          Array.from({ length: units }, (_, i) => i),
          32,
          (i) =>
            requestJson(`${system.apiUrl}/orders`, {
              method: 'POST',
              body: { productId: 'drop', userId: `${prefix}-${i}`, quantity: 1 },
            }),
        );
      const first = await buy('first');
      assert.ok(first.every((reply) => reply.status === 202));
      // Every unit held: the next buyer finds none (sold out, from Redis or from the API's memory).
      await sleep(500);
      const product = bodyOf(await requestJson(`${system.apiUrl}/products/drop`));
      assert.equal(product.stock + product.reserved, units);
      const orderKeys = await scanKeys(system.client, `${system.prefix}:{g:*}:p:drop:order:*`);
      await sleep(2000);
      const ended = await Promise.all(
        orderKeys.map((key) => system.client.hmget(key, 'status', 'holdExpiresAt', 'expiredAt')),
      );
      const lags = ended.map(([status, dueAt, expiredAt]) => {
        assert.equal(status, 'expired');
        return Number(expiredAt) - Number(dueAt);
      });
      t.diagnostic(`${lags.length} holds released ${Math.min(...lags)}..${Math.max(...lags)} ms after their deadline`);
      assert.ok(Math.max(...lags) < 1000);
      // Without any read of the product: the timers alone freed the units, and new buyers win them.
      const second = await buy('second');
      assert.ok(
        second.every((reply) => reply.status === 202),
        'the freed units were sold again',
      );
      const statuses = async () => {
        const all = await Promise.all(
          second.map((reply) => requestJson(`${system.apiUrl}/orders/${reply.body.orderId}`, { headers: admin })),
        );
        return all.map((reply) => reply.body.status);
      };
      let seen = await statuses();
      for (let i = 0; i < 40 && seen.includes('queued'); i++) [, seen] = [await sleep(250), await statuses()];
      const counts: Record<string, number> = {};
      for (const status of seen) counts[status] = (counts[status] ?? 0) + 1;
      // All won (held, or already expired again: these holds last a second too).
      assert.equal((counts.reserved ?? 0) + (counts.expired ?? 0), units, JSON.stringify(counts));
      const again = bodyOf(await requestJson(`${system.apiUrl}/products/drop`, { headers: admin }));
      assert.equal(again.stock + again.reserved, units);
      assert.equal(again.sold, 0);
    } finally {
      await system.stop();
    }
  });
});
