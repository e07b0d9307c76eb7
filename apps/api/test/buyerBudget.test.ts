import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import request from 'supertest';
import { bodyOf } from '@flashline/test-utils';
import { ADMIN_TOKEN, useApis, type ApiUnderTest } from './harness.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const LIMIT = 3;

/**
 * RATE_LIMIT_PER_USER is spent by accepted orders only: requests that are refused (an unknown product,
 * sold out, a bad body, a reused Idempotency-Key) cannot be used to lock a buyer out.
 */
describe("a buyer's per-user request budget", () => {
  const ctx = useApis();
  let prefixes = 0;

  // A window far longer than the test, so nothing is forgiven by time.
  const limited = async (env: Record<string, string> = {}) => {
    const api = await ctx.api(`budget${++prefixes}`, {
      RATE_LIMIT_PER_USER: String(LIMIT),
      RATE_LIMIT_WINDOW_MS: '60000',
      ...env,
    });
    await request(api.app).put('/products/tv').set(admin).send({ stock: 100 }).expect(200);
    await request(api.app).put('/products/gone').set(admin).send({ stock: 0 }).expect(200);
    return api;
  };
  const order = (api: ApiUnderTest, productId: string, userId = 'victim') =>
    request(api.app).post('/orders').send({ productId, userId, quantity: 1 });
  const counterOf = (api: ApiUnderTest, userId: string) => ctx.server.client.get(api.keys.rateLimit('user', userId));

  it('is not spent by requests for a product that does not exist', async () => {
    const api = await limited();
    for (let i = 0; i < LIMIT + 5; i++) {
      assert.equal(bodyOf(await order(api, 'no-such-product').expect(404)).error.code, 'unknown_product');
    }
    assert.equal(Number(await counterOf(api, 'victim')), 0, 'a refused request spent nothing');
    await order(api, 'tv').expect(202);
  });

  it('is not spent by requests for a sold-out product, whether Redis or the memory says so', async () => {
    for (const soldOutMemoryMs of ['0', '500']) {
      const api = await limited({ SOLD_OUT_MEMORY_MS: soldOutMemoryMs });
      for (let i = 0; i < LIMIT + 5; i++) {
        assert.equal(bodyOf(await order(api, 'gone').expect(409)).error.code, 'sold_out', soldOutMemoryMs);
      }
      await order(api, 'tv').expect(202);
    }
  });

  it('is not spent by invalid bodies nor by a reused Idempotency-Key', async () => {
    const api = await limited();
    await request(api.app)
      .post('/orders')
      .set('Idempotency-Key', 'cart-1')
      .send({ productId: 'tv', userId: 'victim', quantity: 1 })
      .expect(202);
    for (let i = 0; i < LIMIT + 5; i++) {
      await request(api.app).post('/orders').send({ productId: 'tv', userId: 'victim', quantity: 0 }).expect(400);
      const reused = await request(api.app)
        .post('/orders')
        .set('Idempotency-Key', 'cart-1')
        .send({ productId: 'tv', userId: 'victim', quantity: 2 })
        .expect(422);
      assert.equal(bodyOf(reused).error.code, 'idempotency_key_reused');
    }
    // One count spent by the first order: LIMIT - 1 left.
    for (let i = 1; i < LIMIT; i++) await order(api, 'tv').expect(202);
    assert.equal(bodyOf(await order(api, 'tv').expect(429)).error.code, 'rate_limited');
  });

  it('still limits a flood of accepted orders, and a refusal does not refund an accepted one', async () => {
    const api = await limited();
    for (let i = 0; i < LIMIT; i++) await order(api, 'tv').expect(202);
    // The product is checked before the buyer's budget: these are refused for what they ask, spending nothing.
    await order(api, 'no-such-product').expect(404);
    await order(api, 'gone').expect(409);
    assert.equal(bodyOf(await order(api, 'tv').expect(429)).error.code, 'rate_limited');
    await order(api, 'tv', 'someone-else').expect(202);
  });
});
