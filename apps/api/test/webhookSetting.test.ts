import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import request from 'supertest';
import { bodyOf } from '@flashline/test-utils';
import {
  commitSections,
  connectRedis,
  createKeys,
  loadConfig,
  startWebhookEvents,
  type OrderJob,
} from '@flashline/core';
import { ADMIN_TOKEN, useApis, type ApiUnderTest } from './harness.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

/** The event types in the product's group outbox, oldest first. */
async function outboxTypes(api: ApiUnderTest, productId: string): Promise<string[]> {
  const entries = (await api.redis.xrange(api.keys.outbox(api.keys.group(productId)), '-', '+')) as [
    string,
    string[],
  ][];
  return entries.map(([, fields]) => fields[fields.indexOf('type') + 1]!);
}

/** Two held orders of `productId` through the API, reserved as a worker with webhooks decides them (events on). */
async function twoHeld(api: ApiUnderTest, productId: string): Promise<string[]> {
  await request(api.app).put(`/products/${productId}`).set(admin).send({ stock: 5, holdSeconds: 300 }).expect(200);
  const orders: OrderJob[] = [];
  for (const userId of ['ann', 'bob']) {
    const posted = await request(api.app).post('/orders').send({ productId, userId, quantity: 1 }).expect(202);
    orders.push({ orderId: bodyOf(posted).orderId, productId, userId, quantity: 1 });
  }
  const reply = await commitSections(api.redis, api.keys, [{ productId, orders, fence: 'claim' }], {
    maxQuantity: 10,
    orderRetentionMs: 60_000,
    events: true,
  });
  assert.equal(reply.kind, 'sections');
  return orders.map((order) => order.orderId);
}

describe('one webhooks setting for the whole system', () => {
  const ctx = useApis();

  it('an API without WEBHOOK_URL records confirm and cancel events while a process with WEBHOOK_URL runs', async () => {
    // A worker's side: it has WEBHOOK_URL, and says so to the system.
    const workerConfig = loadConfig({
      REDIS_URL: ctx.server.url,
      KEY_PREFIX: 'whon',
      WEBHOOK_URL: 'http://127.0.0.1:9/hooks',
      WEBHOOK_SECRET: 'whsec-setting-0123456789',
    });
    const workerRedis = connectRedis(workerConfig, 'worker');
    const announcer = startWebhookEvents(workerRedis, createKeys('whon'), workerConfig);
    await announcer.ready;
    try {
      const api = await ctx.api('whon');
      assert.equal(api.config.webhooks, null, 'this API has no WEBHOOK_URL');
      const [paid, dropped] = await twoHeld(api, 'tv');
      await request(api.app).post(`/orders/${paid}/confirm`).set(admin).expect(200);
      await request(api.app).post(`/orders/${dropped}/cancel`).set(admin).expect(200);
      assert.deepEqual(await outboxTypes(api, 'tv'), [
        'order.reserved',
        'order.reserved',
        'order.confirmed',
        'order.cancelled',
      ]);
    } finally {
      announcer.stop();
      workerRedis.disconnect();
    }
  });

  it('with no process announcing WEBHOOK_URL, the system writes no events', async () => {
    const api = await ctx.api('whoff');
    const [paid] = await twoHeld(api, 'tv');
    await request(api.app).post(`/orders/${paid}/confirm`).set(admin).expect(200);
    assert.deepEqual(await outboxTypes(api, 'tv'), ['order.reserved', 'order.reserved']);
  });
});
