import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import request from 'supertest';
import { bodyOf } from '@flashline/test-utils';
import { ADMIN_TOKEN, useApis, type ApiUnderTest } from './harness.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

describe('Idempotency-Keys', () => {
  const ctx = useApis();
  let api: ApiUnderTest;
  const idempotencyKeys = () => ctx.server.client.keys(api.keys.everyIdempotencyKey());

  before(async () => {
    // The production defaults of the accept path: the sold-out memory on.
    api = await ctx.api('idem', { SOLD_OUT_MEMORY_MS: '500' });
    await request(api.app).put('/products/gone').set(admin).send({ stock: 0 }).expect(200);
    await request(api.app).put('/products/tv').set(admin).send({ stock: 10 }).expect(200);
  });

  it('leaves no key behind for a refused request, however many fresh keys a caller sends', async () => {
    for (let i = 0; i < 20; i++) {
      for (const [productId, status] of [
        ['nope', 404],
        ['gone', 409],
      ] as const) {
        await request(api.app)
          .post('/orders')
          .set('idempotency-key', `fresh-${productId}-${i}`)
          .send({ productId, userId: `bot${i}`, quantity: 1 })
          .expect(status);
      }
    }
    assert.deepEqual(await idempotencyKeys(), []);
    // An accepted one keeps its key: a retry must find its order.
    const body = { productId: 'tv', userId: 'alice', quantity: 1 };
    const first = await request(api.app).post('/orders').set('idempotency-key', 'kept').send(body).expect(202);
    const again = await request(api.app).post('/orders').set('idempotency-key', 'kept').send(body).expect(202);
    assert.equal(bodyOf(again).orderId, bodyOf(first).orderId);
    assert.equal((await idempotencyKeys()).length, 1);
  });

  it("scopes a key to its buyer: another buyer's same key is another key", async () => {
    const alice = await request(api.app)
      .post('/orders')
      .set('idempotency-key', 'cart-42')
      .send({ productId: 'tv', userId: 'ann', quantity: 1 })
      .expect(202);
    const bob = await request(api.app)
      .post('/orders')
      .set('idempotency-key', 'cart-42')
      .send({ productId: 'tv', userId: 'bob', quantity: 1 })
      .expect(202);
    assert.notEqual(bodyOf(bob).orderId, bodyOf(alice).orderId);
  });
});
