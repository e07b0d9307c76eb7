import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { before, describe, it } from 'node:test';
import request from 'supertest';
import { bodyOf } from '@flashline/test-utils';
import { commitSections, type OrderJob } from '@flashline/core';
import { ADMIN_TOKEN, useApis, type ApiUnderTest } from './harness.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

describe('held units through the API: holdSeconds, confirm, cancel', () => {
  const ctx = useApis();
  let api: ApiUnderTest;
  const everything = () =>
    ctx.server.client.keys('holds:*').then(async (keys) => {
      const dump: Record<string, unknown> = {};
      for (const key of keys.sort()) dump[key] = await ctx.server.client.hgetall(key).catch(() => key);
      return JSON.stringify(dump);
    });
  /** Accepts an order through the API and decides it as a worker would (the commit claims the lock). */
  async function won(productId: string, userId: string, quantity = 1): Promise<string> {
    const posted = await request(api.app).post('/orders').send({ productId, userId, quantity }).expect(202);
    const order: OrderJob = { orderId: bodyOf(posted).orderId, productId, userId, quantity };
    const reply = await commitSections(api.redis, api.keys, [{ productId, orders: [order], fence: 'claim' }], {
      maxQuantity: 10,
      orderRetentionMs: 60_000,
    });
    assert.equal(reply.kind, 'sections');
    return order.orderId;
  }

  before(async () => {
    api = await ctx.api('holds');
  });

  it('a won order of a product with holdSeconds is reserved until holdExpiresAt; confirm sells it', async () => {
    const put = await request(api.app).put('/products/h1').set(admin).send({ stock: 3, holdSeconds: 300 }).expect(200);
    assert.equal(bodyOf(put).holdSeconds, 300);
    const orderId = await won('h1', 'ann', 2);
    const held = bodyOf(await request(api.app).get(`/orders/${orderId}`).expect(200));
    assert.equal(held.status, 'reserved');
    const deadline = Date.parse(held.holdExpiresAt!);
    assert.ok(Math.abs(deadline - (Date.now() + 300_000)) < 5_000, `holdExpiresAt ${held.holdExpiresAt}`);
    const product = bodyOf(await request(api.app).get('/products/h1').expect(200));
    assert.deepEqual([product.stock, product.reserved, product.sold], [1, 2, 0]);

    await request(api.app).post(`/orders/${orderId}/confirm`).expect(401);
    const confirmed = bodyOf(await request(api.app).post(`/orders/${orderId}/confirm`).set(admin).expect(200));
    assert.equal(confirmed.status, 'confirmed');
    assert.ok(Date.parse(confirmed.confirmedAt!) >= Date.parse(held.decidedAt!));
    assert.equal(confirmed.holdExpiresAt, held.holdExpiresAt);
    // A repeat is 200 with the order as it is; a cancel now is refused, and neither changes a thing.
    const before = await everything();
    assert.deepEqual(
      bodyOf(await request(api.app).post(`/orders/${orderId}/confirm`).set(admin).expect(200)),
      confirmed,
    );
    const refused = await request(api.app).post(`/orders/${orderId}/cancel`).set(admin).expect(409);
    assert.equal(bodyOf(refused).error.code, 'already_confirmed');
    assert.equal(await everything(), before);
    const after = bodyOf(await request(api.app).get('/products/h1').expect(200));
    assert.deepEqual([after.stock, after.reserved, after.sold], [1, 0, 2]);
  });

  it('cancel returns the units to stock; confirm of a cancelled hold is 409 order_cancelled', async () => {
    await request(api.app)
      .put('/products/h2')
      .set(admin)
      .send({ stock: 2, holdSeconds: 300, perUserLimit: 1 })
      .expect(200);
    const orderId = await won('h2', 'bob');
    const cancelled = bodyOf(await request(api.app).post(`/orders/${orderId}/cancel`).set(admin).expect(200));
    assert.equal(cancelled.status, 'cancelled');
    assert.ok(cancelled.cancelledAt);
    assert.equal(
      bodyOf(await request(api.app).post(`/orders/${orderId}/cancel`).set(admin).expect(200)).status,
      'cancelled',
    );
    const refused = await request(api.app).post(`/orders/${orderId}/confirm`).set(admin).expect(409);
    assert.equal(bodyOf(refused).error.code, 'order_cancelled');
    const product = bodyOf(await request(api.app).get('/products/h2').expect(200));
    assert.deepEqual([product.stock, product.reserved, product.sold], [2, 0, 0]);
    // The buyer's count went down with the cancel: bob, limited to 1, wins again.
    const again = await won('h2', 'bob');
    assert.equal(bodyOf(await request(api.app).get(`/orders/${again}`).expect(200)).status, 'reserved');
  });

  it('an expired hold: GET shows its units free, confirm is 409 hold_expired', async () => {
    await request(api.app).put('/products/h3').set(admin).send({ stock: 1, holdSeconds: 1 }).expect(200);
    const orderId = await won('h3', 'cat');
    assert.equal(bodyOf(await request(api.app).get('/products/h3').expect(200)).reserved, 1);
    await sleep(1100);
    // No timer runs here: the read itself ends the expired hold.
    const product = bodyOf(await request(api.app).get('/products/h3').expect(200));
    assert.deepEqual([product.stock, product.reserved, product.sold], [1, 0, 0]);
    const expired = bodyOf(await request(api.app).get(`/orders/${orderId}`).expect(200));
    assert.equal(expired.status, 'expired');
    assert.ok(expired.expiredAt);
    const refused = await request(api.app).post(`/orders/${orderId}/confirm`).set(admin).expect(409);
    assert.equal(bodyOf(refused).error.code, 'hold_expired');
  });

  it('confirm or cancel of an order that holds nothing is 409 not_reserved; bad ids 400, unknown 404; nothing changes', async () => {
    await request(api.app).put('/products/h4').set(admin).send({ stock: 5 }).expect(200);
    const posted = await request(api.app)
      .post('/orders')
      .send({ productId: 'h4', userId: 'dan', quantity: 1 })
      .expect(202);
    const queued = bodyOf(posted).orderId;
    const before = await everything();
    for (const action of ['confirm', 'cancel']) {
      assert.equal(
        bodyOf(await request(api.app).post(`/orders/${queued}/${action}`).set(admin).expect(409)).error.code,
        'not_reserved',
      );
      assert.equal(
        bodyOf(await request(api.app).post(`/orders/h4.nope/${action}`).set(admin).expect(404)).error.code,
        'not_found',
      );
      assert.equal(
        bodyOf(await request(api.app).post(`/orders/noproduct/${action}`).set(admin).expect(404)).error.code,
        'not_found',
      );
      assert.equal(
        bodyOf(
          await request(api.app)
            .post(`/orders/${'x'.repeat(200)}/${action}`)
            .set(admin)
            .expect(400),
        ).error.code,
        'invalid_request',
      );
    }
    assert.equal(await everything(), before);
  });

  it('holdSeconds must be an integer 1..86400 or null: anything else is 400 and changes nothing', async () => {
    await request(api.app).put('/products/h5').set(admin).send({ stock: 5, holdSeconds: 60 }).expect(200);
    const before = await everything();
    for (const holdSeconds of [0, -1, 86_401, 1.5, '60', true])
      assert.equal(
        bodyOf(await request(api.app).put('/products/h5').set(admin).send({ stock: 5, holdSeconds }).expect(400)).error
          .code,
        'invalid_request',
        `accepted holdSeconds ${JSON.stringify(holdSeconds)}`,
      );
    assert.equal(await everything(), before);
    const removed = bodyOf(
      await request(api.app).put('/products/h5').set(admin).send({ stock: 5, holdSeconds: null }).expect(200),
    );
    assert.equal(removed.holdSeconds, null);
  });
});
