import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import request from 'supertest';
import { bodyOf } from '@flashline/test-utils';
import { ADMIN_TOKEN, useApis, type ApiUnderTest } from './harness.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const iso = (ms: number) => new Date(ms).toISOString();

describe('sale windows: opensAt and closesAt', () => {
  const ctx = useApis();
  let api: ApiUnderTest;
  const everything = () =>
    ctx.server.client.keys('window:*').then(async (keys) => {
      const dump: Record<string, unknown> = {};
      for (const key of keys.sort()) dump[key] = await ctx.server.client.dump(key);
      return JSON.stringify(dump);
    });

  before(async () => {
    api = await ctx.api('window');
  });

  it('sets, shows, keeps and removes a window', async () => {
    const opensAt = iso(Date.now() + 3_600_000);
    const closesAt = iso(Date.now() + 7_200_000);
    const put = await request(api.app).put('/products/w1').set(admin).send({ stock: 5, opensAt, closesAt }).expect(200);
    assert.deepEqual(bodyOf(put), {
      productId: 'w1',
      stock: 5,
      sold: 0,
      perUserLimit: null,
      opensAt,
      closesAt,
      holdSeconds: null,
      reserved: 0,
    });
    // Another time zone, the same instant; a PUT without the window keeps it.
    const local = new Date(Date.parse(opensAt)).toISOString().replace('Z', '+00:00');
    await request(api.app).put('/products/w1').set(admin).send({ stock: 6, opensAt: local }).expect(200);
    const kept = bodyOf(await request(api.app).get('/products/w1').expect(200));
    assert.equal(kept.opensAt, opensAt);
    assert.equal(kept.closesAt, closesAt);
    const removed = await request(api.app).put('/products/w1').set(admin).send({ stock: 6, opensAt: null }).expect(200);
    assert.equal(bodyOf(removed).opensAt, null);
    assert.equal(bodyOf(removed).closesAt, closesAt);
  });

  it('answers 409 sale_not_open with Retry-After before opensAt, 409 sale_closed after closesAt', async () => {
    await request(api.app)
      .put('/products/w2')
      .set(admin)
      .send({ stock: 5, opensAt: iso(Date.now() + 90_000) })
      .expect(200);
    const early = await request(api.app)
      .post('/orders')
      .send({ productId: 'w2', userId: 'u1', quantity: 1 })
      .expect(409);
    assert.equal(bodyOf(early).error.code, 'sale_not_open');
    const retryAfter = Number(early.headers['retry-after']);
    assert.ok(retryAfter >= 89 && retryAfter <= 90, `Retry-After: ${early.headers['retry-after']}`);

    await request(api.app)
      .put('/products/w2')
      .set(admin)
      .send({ stock: 5, opensAt: null, closesAt: iso(Date.now() - 1000) })
      .expect(200);
    const late = await request(api.app)
      .post('/orders')
      .send({ productId: 'w2', userId: 'u1', quantity: 1 })
      .expect(409);
    assert.equal(bodyOf(late).error.code, 'sale_closed');
    assert.equal(late.headers['retry-after'], undefined);

    await request(api.app).put('/products/w2').set(admin).send({ stock: 5, closesAt: null }).expect(200);
    await request(api.app).post('/orders').send({ productId: 'w2', userId: 'u1', quantity: 1 }).expect(202);
  });

  it('refuses a bad window with 400 invalid_request, changing nothing', async () => {
    await request(api.app)
      .put('/products/w3')
      .set(admin)
      .send({ stock: 5, closesAt: iso(Date.now() + 60_000) })
      .expect(200);
    const before = await everything();
    const later = iso(Date.now() + 120_000);
    for (const body of [
      { stock: 5, opensAt: '2026-12-24' }, // no time
      { stock: 5, opensAt: '2026-12-24T18:00:00' }, // no time zone
      { stock: 5, opensAt: 'soon' },
      { stock: 5, opensAt: 1767000000000 },
      { stock: 5, opensAt: later, closesAt: iso(Date.now() + 60_000) }, // closes before it opens
      { stock: 5, opensAt: later }, // with the closesAt kept, the same
    ]) {
      const reply = await request(api.app).put('/products/w3').set(admin).send(body);
      assert.equal(reply.status, 400, JSON.stringify(body));
      assert.equal(bodyOf(reply).error.code, 'invalid_request', JSON.stringify(body));
    }
    assert.equal(await everything(), before);
  });
});
