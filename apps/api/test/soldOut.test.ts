import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { bodyOf, type TestRedis } from '@flashline/test-utils';
import { ADMIN_TOKEN, useApis, type ApiUnderTest } from './harness.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

async function commandsProcessed(server: TestRedis): Promise<number> {
  const info = await server.client.info('stats');
  return Number(/total_commands_processed:(\d+)/.exec(info)?.[1]);
}

describe('the sold-out storm', () => {
  const ctx = useApis();
  let api: ApiUnderTest;

  before(async () => {
    api = await ctx.api('storm');
  });

  it('answers a known sold-out product from memory, without a Redis round trip per request', async () => {
    await request(api.app).put('/products/gone').set(admin).send({ stock: 0 }).expect(200);
    await request(api.app).post('/orders').send({ productId: 'gone', userId: 'first', quantity: 1 }).expect(409); // Redis says so once
    const before = await commandsProcessed(ctx.server);
    for (let i = 0; i < 50; i++) {
      const res = await request(api.app)
        .post('/orders')
        .send({ productId: 'gone', userId: `u${i}`, quantity: 1 })
        .expect(409);
      assert.equal(bodyOf(res).error.code, 'sold_out');
    }
    const used = (await commandsProcessed(ctx.server)) - before - 1; // the INFO above counts itself
    assert.ok(used <= 1, `50 sold-out answers cost ${used} Redis commands`);
  });

  for (const [how, restock] of [
    ['PUT', (id: string) => request(api.app).put(`/products/${id}`).set(admin).send({ stock: 5 })],
    ['POST …/stock', (id: string) => request(api.app).post(`/products/${id}/stock`).set(admin).send({ delta: 5 })],
  ] as const)
    it(`sees a restock within a second (${how})`, async () => {
      const id = `back${how.length}`;
      await request(api.app).put(`/products/${id}`).set(admin).send({ stock: 0 }).expect(200);
      await request(api.app).post('/orders').send({ productId: id, userId: 'u', quantity: 1 }).expect(409);
      await restock(id).expect(200);
      const restocked = Date.now();
      let status = 409;
      while (status === 409 && Date.now() - restocked < 3000) {
        status = (await request(api.app).post('/orders').send({ productId: id, userId: 'u', quantity: 1 })).status;
        if (status === 409) await sleep(50);
      }
      assert.equal(status, 202);
      assert.ok(Date.now() - restocked <= 1000, `the restock took ${Date.now() - restocked} ms to be seen`);
    });

  it('still finds an order recorded before the sell-out when its request is retried with its key', async () => {
    await request(api.app).put('/products/last').set(admin).send({ stock: 1 }).expect(200);
    const first = await request(api.app)
      .post('/orders')
      .set('Idempotency-Key', 'k-last')
      .send({ productId: 'last', userId: 'a', quantity: 1 })
      .expect(202);
    await request(api.app).put('/products/last').set(admin).send({ stock: 0 }).expect(200);
    await request(api.app).post('/orders').send({ productId: 'last', userId: 'b', quantity: 1 }).expect(409); // now remembered sold out
    const retry = await request(api.app)
      .post('/orders')
      .set('Idempotency-Key', 'k-last')
      .send({ productId: 'last', userId: 'a', quantity: 1 })
      .expect(202);
    assert.equal(bodyOf(retry).orderId, bodyOf(first).orderId);
    const stranger = await request(api.app)
      .post('/orders')
      .set('Idempotency-Key', 'k-new')
      .send({ productId: 'last', userId: 'c', quantity: 1 })
      .expect(409);
    assert.equal(bodyOf(stranger).error.code, 'sold_out');
  });
});
