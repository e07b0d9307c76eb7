import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { listen, loadConfig, type Listening } from '@flashline/core';
import { outboxFields, startRedis, type TestRedis } from '@flashline/test-utils';
import { dashboardOn, type DashboardFixture } from './fixture.ts';
import { readEvents } from './saleEvents.ts';

/** The sale panel's webhooks line: what waits for the shop's receiver, and what its backlog dropped. */
describe('sale panel: webhook events waiting and dropped', () => {
  let server: TestRedis;
  let fixture: DashboardFixture;
  let plain: DashboardFixture;
  const listening: Listening[] = [];
  const eventsOf = async (of: DashboardFixture) => {
    const http = await listen(of.app, 0, '127.0.0.1', loadConfig({}).http);
    listening.push(http);
    const [view] = await readEvents(`http://127.0.0.1:${http.port}/sale/events`, 1);
    return view!;
  };

  before(async () => {
    server = await startRedis();
    const env = { WEBHOOK_URL: 'http://127.0.0.1:9/hooks', WEBHOOK_SECRET: 'whsec-panel-0123456789' };
    fixture = dashboardOn(server, 'swh', { intervalMs: 100, env });
    plain = dashboardOn(server, 'swhoff', { intervalMs: 100 });
  });
  after(async () => {
    fixture.sale.close();
    plain.sale.close();
    for (const http of listening) await http.close();
    await fixture.close();
    await plain.close();
    await server.stop();
  });

  it('shows the events waiting in the backlog and those dropped, with the time of the last drop', async () => {
    const { redis, keys } = fixture;
    const event = { productId: 'tv', userId: 'ann', quantity: 1, type: 'order.confirmed' as const, seq: 1, at: 1 };
    for (const orderId of ['tv.a', 'tv.b', 'tv.c'])
      await redis.xadd(keys.webhookBacklog(0), '*', ...outboxFields({ ...event, orderId }));
    await redis.hset(keys.webhookDropped(0), 'count', 7, 'firstAt', 1764709200000, 'lastAt', 1764709260000);
    const view = await eventsOf(fixture);
    assert.deepEqual(view.webhooks, { pending: 3, inFlight: 0, dropped: 7, lastDroppedAt: '2025-12-02T21:01:00.000Z' });
  });

  it('has no webhooks line without WEBHOOK_URL', async () => {
    assert.equal((await eventsOf(plain)).webhooks, null);
  });
});
