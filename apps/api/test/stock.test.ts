import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import request from 'supertest';
import { bodyOf } from '@flashline/test-utils';
import { ADMIN_TOKEN, useApis, type ApiUnderTest } from './harness.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

describe('stock changes that cannot lose a sale', () => {
  const ctx = useApis();
  let api: ApiUnderTest;
  const everything = () =>
    ctx.server.client.keys('stock:*').then(async (keys) => {
      const dump: Record<string, unknown> = {};
      for (const key of keys.sort()) dump[key] = await ctx.server.client.dump(key);
      return JSON.stringify(dump);
    });

  before(async () => {
    api = await ctx.api('stock');
  });

  describe('POST /products/:productId/stock', () => {
    it('adds and takes away units, answering the product', async () => {
      await request(api.app).put('/products/tv').set(admin).send({ stock: 10, perUserLimit: 2 }).expect(200);
      const added = await request(api.app).post('/products/tv/stock').set(admin).send({ delta: 5 }).expect(200);
      assert.deepEqual(added.body, {
        productId: 'tv',
        stock: 15,
        sold: 0,
        perUserLimit: 2,
        opensAt: null,
        closesAt: null,
        holdSeconds: null,
        reserved: 0,
      });
      const taken = await request(api.app).post('/products/tv/stock').set(admin).send({ delta: -15 }).expect(200);
      assert.equal(bodyOf(taken).stock, 0);
    });

    it('refuses to take more units than are left (409 insufficient_stock), changing nothing', async () => {
      await request(api.app).put('/products/few').set(admin).send({ stock: 3 }).expect(200);
      const before = await everything();
      const refused = await request(api.app).post('/products/few/stock').set(admin).send({ delta: -4 }).expect(409);
      assert.equal(bodyOf(refused).error.code, 'insufficient_stock');
      assert.equal(await everything(), before);
    });

    it('answers a bad delta, an unknown product or a missing token with a 4xx and changes nothing', async () => {
      await request(api.app).put('/products/kept').set(admin).send({ stock: 3 }).expect(200);
      const before = await everything();
      for (const body of [
        { delta: 0 },
        { delta: 1.5 },
        { delta: '5' },
        {},
        { delta: 1, extra: true },
        { delta: 2e12 },
      ]) {
        const reply = await request(api.app).post('/products/kept/stock').set(admin).send(body).expect(400);
        assert.equal(bodyOf(reply).error.code, 'invalid_request', JSON.stringify(body));
      }
      const unknown = await request(api.app).post('/products/nope/stock').set(admin).send({ delta: 1 }).expect(404);
      assert.equal(bodyOf(unknown).error.code, 'not_found');
      const anonymous = await request(api.app).post('/products/kept/stock').send({ delta: 1 }).expect(401);
      assert.equal(bodyOf(anonymous).error.code, 'unauthorized');
      assert.equal(await everything(), before);
      assert.equal(await ctx.server.client.exists(api.keys.product('nope')), 0);
    });

    it('sums concurrent deltas exactly', async () => {
      await request(api.app).put('/products/busy').set(admin).send({ stock: 1000 }).expect(200);
      const deltas = Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? 3 : -1));
      await Promise.all(
        deltas.map((delta) => request(api.app).post('/products/busy/stock').set(admin).send({ delta }).expect(200)),
      );
      const product = await request(api.app).get('/products/busy').expect(200);
      assert.equal(bodyOf(product).stock, 1000 + deltas.reduce((a, b) => a + b, 0));
    });
  });

  describe('PUT /products/:productId with If-Match', () => {
    it('sends an ETag of the product state, which changes when the state does', async () => {
      await request(api.app).put('/products/cam').set(admin).send({ stock: 10 }).expect(200);
      const first = await request(api.app).get('/products/cam').expect(200);
      const tag = first.headers.etag;
      assert.match(tag ?? '', /^"[^"]+"$/);
      assert.equal((await request(api.app).get('/products/cam').expect(200)).headers.etag, tag, 'the same state');
      await request(api.app).post('/products/cam/stock').set(admin).send({ delta: 1 }).expect(200);
      assert.notEqual((await request(api.app).get('/products/cam').expect(200)).headers.etag, tag);
    });

    it('applies a PUT only to the state its sender read; a stale If-Match is 412 and changes nothing', async () => {
      await request(api.app).put('/products/lamp').set(admin).send({ stock: 10 }).expect(200);
      const read = (await request(api.app).get('/products/lamp').expect(200)).headers.etag!;
      // Units sell (here: taken away) between the operator's read and their write.
      await request(api.app).post('/products/lamp/stock').set(admin).send({ delta: -4 }).expect(200);
      const before = await everything();
      for (const ifMatch of [read, '"1.2.3"', 'W/"x"', 'garbage']) {
        const stale = await request(api.app)
          .put('/products/lamp')
          .set(admin)
          .set('if-match', ifMatch)
          .send({ stock: 15 })
          .expect(412);
        assert.equal(bodyOf(stale).error.code, 'precondition_failed', ifMatch);
      }
      assert.equal(await everything(), before);
      const current = (await request(api.app).get('/products/lamp').expect(200)).headers.etag!;
      const put = await request(api.app)
        .put('/products/lamp')
        .set(admin)
        .set('if-match', `"0.0.0", ${current}`)
        .send({ stock: 15 })
        .expect(200);
      assert.equal(bodyOf(put).stock, 15);
      await request(api.app).put('/products/lamp').set(admin).set('if-match', '*').send({ stock: 16 }).expect(200);
      const none = await request(api.app).put('/products/ghost').set(admin).set('if-match', '*').send({ stock: 1 });
      assert.equal(none.status, 412, 'If-Match: * created a product');
      assert.equal(await ctx.server.client.exists(api.keys.product('ghost')), 0);
      assert.equal(
        await ctx.server.client.sismember(api.keys.productsOfGroup(api.keys.group('ghost')), 'ghost'),
        0,
        'a refused PUT registered the product',
      );
      assert.equal(
        await ctx.server.client.sismember(api.keys.productsOfGroup(api.keys.group('lamp')), 'lamp'),
        1,
        'a product was not registered in the step that created it',
      );
    });
  });
});
