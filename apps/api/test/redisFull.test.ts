import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { listen, type Listening } from '@flashline/core';
import {
  emptyRedisFiller,
  fillRedisPastMaxmemory,
  requestJson,
  startRedis,
  type JsonReply,
  type TestRedis,
} from '@flashline/test-utils';
import { ADMIN_TOKEN, apiOn, type ApiUnderTest } from './harness.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

describe('a Redis full (used memory past maxmemory, noeviction)', () => {
  let server: TestRedis;
  let api: ApiUnderTest;
  let http: Listening;
  const url = (path: string) => `http://127.0.0.1:${http.port}${path}`;
  const order = (userId: string, key: string) =>
    requestJson(url('/orders'), {
      method: 'POST',
      headers: { 'idempotency-key': key },
      body: { productId: 'tv', userId, quantity: 1 },
    });
  /** /readyz is cached for a moment: the first answer that is not `status`, or the last one after 5 s. */
  async function readyzUntil(status: number): Promise<JsonReply> {
    for (const deadline = Date.now() + 5000; ; await sleep(100)) {
      const reply = await requestJson(url('/readyz'));
      if (reply.status === status || Date.now() > deadline) return reply;
    }
  }

  before(async () => {
    // Small enough to fill in a moment, with room for what the API and BullMQ keep.
    server = await startRedis({ maxmemory: '8mb' });
    // The production defaults of the limits: the per-IP limit is a Redis write on every route.
    api = await apiOn(server, 'full', { RATE_LIMIT_PER_IP: '200', RATE_LIMIT_PER_USER: '5' });
    http = await listen(api.app, 0, '127.0.0.1', api.config.http);
  });
  after(async () => {
    await http?.close();
    await api?.close();
    await server?.stop();
  });

  it('refuses orders with 503 and Retry-After, writes nothing, keeps reads, and recovers once memory is freed', async () => {
    const put = await requestJson(url('/products/tv'), { method: 'PUT', headers: admin, body: { stock: 10 } });
    assert.equal(put.status, 200);
    const before = await order('alice', 'alice-1');
    assert.equal(before.status, 202);
    assert.equal((await readyzUntil(200)).status, 200);

    await fillRedisPastMaxmemory(server.client);
    await assert.rejects(server.client.set('any', 'write'), /OOM command not allowed/);
    const keysBefore = new Set(await server.client.keys('*'));
    const jobsBefore = await api.queue.getJobCounts();
    const accepted = await server.client.hget(api.keys.product('tv'), 'accepted');

    const refused = await order('bob', 'bob-1');
    assert.equal(refused.status, 503);
    assert.equal(refused.body.error.code, 'unavailable');
    assert.match(refused.headers.get('retry-after') ?? '', /^\d+$/);
    // Nothing written: no order, no job, no Idempotency-Key bound, no per-user count spent.
    const newKeys = (await server.client.keys('*')).filter((key) => !keysBefore.has(key));
    assert.deepEqual(newKeys, []);
    assert.deepEqual(await api.queue.getJobCounts(), jobsBefore);
    assert.equal(await server.client.hget(api.keys.product('tv'), 'accepted'), accepted);

    const notReady = await readyzUntil(503);
    assert.equal(notReady.status, 503);
    assert.equal(notReady.body.error.code, 'unavailable');
    // Reads go on: the shop still shows products and orders.
    assert.equal((await requestJson(url('/products/tv'))).status, 200);
    const read = await requestJson(url(`/orders/${before.body.orderId}`));
    assert.equal(read.status, 200);
    assert.equal(read.body.orderId, before.body.orderId);

    await emptyRedisFiller(server.client);
    const retried = await order('bob', 'bob-1');
    assert.equal(retried.status, 202);
    assert.equal((await readyzUntil(200)).status, 200);
  });
});
