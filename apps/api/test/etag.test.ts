import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { before, describe, it } from 'node:test';
import request from 'supertest';
import { bodyOf } from '@flashline/test-utils';
import { commitSections } from '@flashline/core';
import { ADMIN_TOKEN, useApis, type ApiUnderTest } from './harness.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const HOUR = 3_600_000;

describe("a product's ETag names one state of everything its body shows", () => {
  const ctx = useApis();
  let api: ApiUnderTest;

  before(async () => {
    api = await ctx.api('etag');
  });

  const read = async (productId: string) => {
    const reply = await request(api.app).get(`/products/${productId}`).expect(200);
    return { tag: reply.headers.etag!, body: JSON.stringify(reply.body) };
  };
  /** Accepts an order through the API and decides it as a worker would. */
  async function won(productId: string, userId: string): Promise<string> {
    const posted = await request(api.app).post('/orders').send({ productId, userId, quantity: 1 }).expect(202);
    const orderId = bodyOf(posted).orderId;
    const order = { orderId, productId, userId, quantity: 1 };
    const reply = await commitSections(api.redis, api.keys, [{ productId, orders: [order], fence: 'claim' }], {
      maxQuantity: 10,
      orderRetentionMs: 60_000,
    });
    assert.equal(reply.kind, 'sections');
    return orderId;
  }

  for (const [field, change] of [
    ['closesAt', { closesAt: new Date(Date.now() + 2 * HOUR).toISOString() }],
    ['opensAt', { opensAt: new Date(Date.now() - HOUR).toISOString() }],
    ['holdSeconds', { holdSeconds: 120 }],
    ['perUserLimit', { perUserLimit: 3 }],
  ] as const) {
    it(`a stale If-Match after a change of ${field} is 412 and keeps the change`, async () => {
      const productId = `stale-${field}`;
      await request(api.app)
        .put(`/products/${productId}`)
        .set(admin)
        .send({ stock: 10, closesAt: new Date(Date.now() + HOUR).toISOString(), holdSeconds: 60, perUserLimit: 2 })
        .expect(200);
      const stale = (await read(productId)).tag;
      // Another operator changes only the field; stock and sold stay as they were.
      const changed = await request(api.app)
        .put(`/products/${productId}`)
        .set(admin)
        .send({ stock: 10, ...change });
      assert.equal(changed.status, 200);
      const refused = await request(api.app)
        .put(`/products/${productId}`)
        .set(admin)
        .set('if-match', stale)
        .send({ stock: 5, closesAt: null, opensAt: null, holdSeconds: null, perUserLimit: null });
      assert.equal(refused.status, 412, `a stale If-Match overwrote ${field}`);
      assert.equal(bodyOf(refused).error.code, 'precondition_failed');
      assert.deepEqual(bodyOf(await request(api.app).get(`/products/${productId}`).expect(200)), bodyOf(changed));
    });
  }

  it('every change of the body changes the ETag, two bodies never share one, and PUT/POST answer the tag a GET reads', async () => {
    const tags = new Map<string, string>();
    let last = '';
    const step = async (what: string, answered?: { headers: Record<string, string> }) => {
      const now = await read('walk');
      if (answered) assert.equal(answered.headers.etag, now.tag, `${what}: the answer's ETag is not the GET's`);
      assert.notEqual(now.tag, last, `${what} left the ETag as it was`);
      const seen = tags.get(now.tag);
      assert.ok(seen === undefined || seen === now.body, `${what}: ${now.tag} names two bodies`);
      tags.set(now.tag, now.body);
      last = now.tag;
    };
    const put = (body: object) => request(api.app).put('/products/walk').set(admin).send(body).expect(200);
    await step('creation', await put({ stock: 5 }));
    await step('a restock', await put({ stock: 6 }));
    await step(
      'a delta',
      await request(api.app).post('/products/walk/stock').set(admin).send({ delta: -1 }).expect(200),
    );
    await step('a per-user limit', await put({ stock: 5, perUserLimit: 4 }));
    await step('opensAt', await put({ stock: 5, opensAt: new Date(Date.now() - HOUR).toISOString() }));
    await step('closesAt', await put({ stock: 5, closesAt: new Date(Date.now() + HOUR).toISOString() }));
    await step('closesAt removed', await put({ stock: 5, closesAt: null }));
    await step('holdSeconds', await put({ stock: 5, holdSeconds: 300 }));
    const paid = await won('walk', 'ann');
    await step('a unit held');
    await request(api.app).post(`/orders/${paid}/confirm`).set(admin).expect(200);
    await step('a unit paid');
    const dropped = await won('walk', 'bob');
    await step('another unit held');
    await request(api.app).post(`/orders/${dropped}/cancel`).set(admin).expect(200);
    await step('a hold cancelled');
    await step('holdSeconds 1', await put({ stock: 4, holdSeconds: 1 }));
    await won('walk', 'cat');
    await step('a unit held for a second');
    await sleep(1100);
    await step('the hold expired (ended by the read)');
    await step('back to a stock seen before', await put({ stock: 5 }));

    // A PUT that changes nothing (a retry) names the same state.
    const same = await read('walk');
    assert.equal((await put({ stock: 5 })).headers.etag, same.tag, 'a PUT that changed nothing changed the ETag');
    // A product made again under the same id never takes back an old tag.
    const old = await read('walk');
    await ctx.server.client.del(api.keys.product('walk'));
    await put({ stock: 5 });
    assert.notEqual((await read('walk')).tag, old.tag, 'a product made again reused a tag of its first life');
  });
});

describe('GET /products/:id is cacheable: Cache-Control, and 304 for a matching If-None-Match', () => {
  const ctx = useApis();
  let api: ApiUnderTest;

  before(async () => {
    api = await ctx.api('cache');
    await request(api.app).put('/products/tv').set(admin).send({ stock: 10 }).expect(200);
  });

  const get = (app: ApiUnderTest['app'], ifNoneMatch?: string) => {
    const req = request(app).get('/products/tv');
    return ifNoneMatch === undefined ? req : req.set('if-none-match', ifNoneMatch);
  };

  it('answers Cache-Control: public, max-age=PRODUCT_CACHE_MAX_AGE_S (1 by default; 0 is no-cache)', async () => {
    assert.equal((await get(api.app).expect(200)).headers['cache-control'], 'public, max-age=1');
    const five = await ctx.api('cache', { PRODUCT_CACHE_MAX_AGE_S: '5' });
    assert.equal((await get(five.app).expect(200)).headers['cache-control'], 'public, max-age=5');
    const none = await ctx.api('cache', { PRODUCT_CACHE_MAX_AGE_S: '0' });
    assert.equal((await get(none.app).expect(200)).headers['cache-control'], 'no-cache');
    const unknown = await request(api.app).get('/products/nothing').expect(404);
    assert.equal(unknown.headers['cache-control'], undefined, 'a 404 was made cacheable');
  });

  it('answers 304 without a body when If-None-Match names the current tag (weakly, in a list, or *)', async () => {
    const tag = (await get(api.app).expect(200)).headers.etag!;
    for (const ifNoneMatch of [tag, `W/${tag}`, `"other", ${tag}`, `W/"x",W/${tag} , "y"`, '*']) {
      const reply = await get(api.app, ifNoneMatch);
      assert.equal(reply.status, 304, `If-None-Match: ${ifNoneMatch}`);
      assert.equal(reply.text, '', 'a 304 carried a body');
      assert.equal(reply.headers.etag, tag);
      assert.equal(reply.headers['cache-control'], 'public, max-age=1');
    }
    const reload = await get(api.app, tag).set('cache-control', 'no-cache').expect(200);
    assert.equal(bodyOf(reload).productId, 'tv', 'a reload (Cache-Control: no-cache) did not get the body');
    for (const ifNoneMatch of ['"other"', 'W/"other"', tag.slice(1, -1), `"${tag}"`, '', 'garbage, "1"']) {
      const reply = await get(api.app, ifNoneMatch).expect(200);
      assert.equal(bodyOf(reply).productId, 'tv', `If-None-Match: ${ifNoneMatch}`);
    }
  });

  it('a tag a client holds stops matching as soon as any field changes', async () => {
    const changes: [string, () => Promise<unknown>][] = [
      ['stock', () => request(api.app).put('/products/tv').set(admin).send({ stock: 11 }).expect(200)],
      ['delta', () => request(api.app).post('/products/tv/stock').set(admin).send({ delta: 1 }).expect(200)],
      ['perUserLimit', () => request(api.app).put('/products/tv').set(admin).send({ stock: 12, perUserLimit: 2 })],
      [
        'opensAt',
        () => request(api.app).put('/products/tv').set(admin).send({ stock: 12, opensAt: '2020-01-01T00:00:00Z' }),
      ],
      [
        'closesAt',
        () => request(api.app).put('/products/tv').set(admin).send({ stock: 12, closesAt: '2099-01-01T00:00:00Z' }),
      ],
      ['holdSeconds', () => request(api.app).put('/products/tv').set(admin).send({ stock: 12, holdSeconds: 30 })],
    ];
    for (const [field, change] of changes) {
      const held = (await get(api.app).expect(200)).headers.etag!;
      await get(api.app, held).expect(304);
      await change();
      const fresh = await get(api.app, held);
      assert.equal(fresh.status, 200, `a change of ${field} still answered 304`);
      assert.notEqual(fresh.headers.etag, held);
    }
  });
});
