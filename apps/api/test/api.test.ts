import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import request from 'supertest';
import { createKeys, ordersOf } from '@flashline/core';
import { ADMIN_TOKEN, useApis, type ApiUnderTest } from './harness.ts';
import { BAD_ORDERS, VALID_ORDER } from './badInput.ts';
import { bodyOf } from '@flashline/test-utils';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

describe('HTTP API', () => {
  const ctx = useApis();
  let api: ApiUnderTest;

  before(async () => {
    api = await ctx.api('api');
    await request(api.app).put('/products/tv').set(admin).send({ stock: 5, perUserLimit: 2 }).expect(200);
    await request(api.app).put('/products/gone').set(admin).send({ stock: 0 }).expect(200);
  });

  describe('products', () => {
    it('sets and reads a product', async () => {
      const put = await request(api.app).put('/products/p-1').set(admin).send({ stock: 7 }).expect(200);
      assert.deepEqual(put.body, {
        productId: 'p-1',
        stock: 7,
        sold: 0,
        perUserLimit: null,
        opensAt: null,
        closesAt: null,
        holdSeconds: null,
        reserved: 0,
      });
      const got = await request(api.app).get('/products/p-1').expect(200);
      assert.deepEqual(got.body, put.body);
      const limited = await request(api.app)
        .put('/products/p-1')
        .set(admin)
        .send({ stock: 9, perUserLimit: 3 })
        .expect(200);
      assert.deepEqual(limited.body, {
        productId: 'p-1',
        stock: 9,
        sold: 0,
        perUserLimit: 3,
        opensAt: null,
        closesAt: null,
        holdSeconds: null,
        reserved: 0,
      });
      const kept = await request(api.app).put('/products/p-1').set(admin).send({ stock: 4 }).expect(200);
      assert.equal(bodyOf(kept).perUserLimit, 3, 'an absent perUserLimit should keep the current one');
      const cleared = await request(api.app)
        .put('/products/p-1')
        .set(admin)
        .send({ stock: 4, perUserLimit: null })
        .expect(200);
      assert.equal(bodyOf(cleared).perUserLimit, null);
    });

    it('refuses a PUT without the admin token, changing nothing', async () => {
      const before = await ctx.server.client.dbsize();
      for (const authorization of [undefined, 'Bearer wrong', `Basic ${ADMIN_TOKEN}`, `Bearer ${ADMIN_TOKEN}x`]) {
        const req = request(api.app).put('/products/free').send({ stock: 1000 });
        const res = await (authorization ? req.set('authorization', authorization) : req).expect(401);
        assert.equal(bodyOf(res).error.code, 'unauthorized');
      }
      assert.equal(await ctx.server.client.dbsize(), before);
      await request(api.app).get('/products/free').expect(404);
    });

    it('answers 404 for an unknown product', async () => {
      const res = await request(api.app).get('/products/nope').expect(404);
      assert.equal(bodyOf(res).error.code, 'not_found');
    });
  });

  describe('orders', () => {
    it('accepts an order with 202, a Location and an enqueued job', async () => {
      const res = await request(api.app)
        .post('/orders')
        .send({ productId: 'tv', userId: 'alice', quantity: 1 })
        .expect(202);
      assert.equal(bodyOf(res).status, 'queued');
      assert.match(bodyOf(res).orderId, /^tv\.[A-Za-z0-9_-]{16}$/);
      assert.equal(res.headers.location, `/orders/${bodyOf(res).orderId}`);
      const job = await api.queue.getJob(bodyOf(res).orderId);
      assert.deepEqual(job?.data, { orderId: bodyOf(res).orderId, productId: 'tv', userId: 'alice', quantity: 1 });
      // As the admin: only the admin (or, with buyer tokens, the buyer) is shown the userId (buyers.test.ts).
      const order = await request(api.app).get(res.headers.location).set(admin).expect(200);
      assert.deepEqual(
        { ...order.body, createdAt: typeof bodyOf(order).createdAt },
        {
          orderId: bodyOf(res).orderId,
          productId: 'tv',
          userId: 'alice',
          quantity: 1,
          status: 'queued',
          createdAt: 'string',
        },
      );
      assert.ok(!Number.isNaN(Date.parse(bodyOf(order).createdAt)));
    });

    it('makes one order per Idempotency-Key, and refuses the key with another body', async () => {
      const body = { productId: 'tv', userId: 'bob', quantity: 2 };
      const replies = await Promise.all(
        Array.from({ length: 5 }, () =>
          request(api.app).post('/orders').set('Idempotency-Key', 'key-bob-1').send(body).expect(202),
        ),
      );
      const ids = new Set(replies.map((r) => bodyOf(r).orderId));
      assert.equal(ids.size, 1, `one key made ${ids.size} orders`);
      const orderId = [...ids][0]!;
      const jobs = await api.queue.getJobs(['wait', 'active', 'delayed', 'completed', 'failed']);
      assert.equal(
        jobs.filter((j) => ordersOf(j.data).some((o) => o.userId === 'bob')).length,
        1,
        'one key enqueued more than one job',
      );
      assert.equal(
        (await ctx.server.client.keys(createKeys('api').order('tv', '*'))).filter((k) => k.endsWith(orderId)).length,
        1,
      );

      const reused = await request(api.app)
        .post('/orders')
        .set('Idempotency-Key', 'key-bob-1')
        .send({ ...body, quantity: 1 })
        .expect(422);
      assert.equal(bodyOf(reused).error.code, 'idempotency_key_reused');
      const other = await request(api.app).post('/orders').set('Idempotency-Key', 'key-bob-2').send(body).expect(202);
      assert.notEqual(bodyOf(other).orderId, orderId);
    });

    it('answers 404 unknown_product and 409 sold_out without enqueuing', async () => {
      const before = await ctx.server.client.dbsize();
      const unknown = await request(api.app)
        .post('/orders')
        .send({ productId: 'nope', userId: 'u', quantity: 1 })
        .expect(404);
      assert.equal(bodyOf(unknown).error.code, 'unknown_product');
      const soldOut = await request(api.app)
        .post('/orders')
        .send({ productId: 'gone', userId: 'u', quantity: 1 })
        .expect(409);
      assert.equal(bodyOf(soldOut).error.code, 'sold_out');
      assert.equal(await ctx.server.client.dbsize(), before);
    });

    it('answers 404 for an unknown order and 400 for a malformed order id', async () => {
      assert.equal(
        bodyOf(await request(api.app).get('/orders/tv.AAAAAAAAAAAAAAAA').expect(404)).error.code,
        'not_found',
      );
      assert.equal(bodyOf(await request(api.app).get('/orders/whatever').expect(404)).error.code, 'not_found');
      assert.equal(bodyOf(await request(api.app).get('/orders/a%3Ab').expect(400)).error.code, 'invalid_request');
    });
  });

  describe('bad input', () => {
    const ok = VALID_ORDER;

    for (const [name, body, contentType, status, code, mentions] of BAD_ORDERS) {
      it(`${name} → ${status} ${code}, Redis unchanged`, async () => {
        const keysBefore = await ctx.server.client.dbsize();
        const res = await request(api.app).post('/orders').set('content-type', contentType).send(body);
        assert.equal(res.status, status, JSON.stringify(res.body));
        assert.equal(bodyOf(res).error?.code, code);
        assert.ok(
          String(bodyOf(res).error.message).includes(mentions),
          `message should mention ${mentions}: ${bodyOf(res).error.message}`,
        );
        assert.equal(await ctx.server.client.dbsize(), keysBefore, 'Redis key count changed');
        assert.equal(({} as Record<string, unknown>).admin, undefined, 'Object.prototype was polluted');
      });
    }

    it('a bad Idempotency-Key → 400, Redis unchanged', async () => {
      const keysBefore = await ctx.server.client.dbsize();
      const res = await request(api.app).post('/orders').set('Idempotency-Key', 'has space').send(ok).expect(400);
      assert.equal(bodyOf(res).error.code, 'invalid_request');
      assert.equal(await ctx.server.client.dbsize(), keysBefore);
    });

    it('a bad product update → 400, Redis unchanged', async () => {
      const keysBefore = await ctx.server.client.dbsize();
      for (const body of [
        { stock: -1 },
        { stock: 1.5 },
        { stock: '5' },
        {},
        { stock: 1, perUserLimit: 0 },
        { stock: 1, extra: true },
      ]) {
        const res = await request(api.app).put('/products/newone').set(admin).send(body).expect(400);
        assert.equal(bodyOf(res).error.code, 'invalid_request');
      }
      assert.equal(
        bodyOf(await request(api.app).put('/products/bad:id').set(admin).send({ stock: 1 }).expect(400)).error.code,
        'invalid_request',
      );
      assert.equal(await ctx.server.client.dbsize(), keysBefore);
    });
  });

  describe('health', () => {
    it('answers /healthz and /readyz', async () => {
      await request(api.app).get('/healthz').expect(200, { status: 'ok' });
      await request(api.app).get('/readyz').expect(200, { status: 'ready' });
    });
  });
});

describe('HTTP API with Redis down', () => {
  const ctx = useApis();
  let api: ApiUnderTest;

  before(async () => {
    api = await ctx.api('down');
    await request(api.app).put('/products/tv').set(admin).send({ stock: 5 }).expect(200);
    await ctx.server.kill();
  });

  it('answers 503 unavailable fast, never 202', async () => {
    for (let i = 0; i < 5; i++) {
      const started = Date.now();
      const res = await request(api.app).post('/orders').send({ productId: 'tv', userId: 'u1', quantity: 1 });
      assert.equal(res.status, 503, JSON.stringify(res.body));
      assert.equal(bodyOf(res).error.code, 'unavailable');
      assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`);
    }
    assert.equal((await request(api.app).get('/readyz')).status, 503);
    await request(api.app).get('/healthz').expect(200);
  });

  it('accepts orders again once Redis is back', async () => {
    await ctx.server.start(); // no AOF here: the product is gone, so the admin sets it again
    let status = 0;
    for (let i = 0; i < 50 && status !== 202; i++) {
      await request(api.app).put('/products/tv').set(admin).send({ stock: 5 });
      status = (await request(api.app).post('/orders').send({ productId: 'tv', userId: 'u2', quantity: 1 })).status;
      if (status !== 202) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 202);
  });
});
