import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { ConfigError, createKeys, loadConfig } from '@flashline/core';
import { startRedis, bodyOf } from '@flashline/test-utils';
import { ADMIN_TOKEN, useApis } from './harness.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

describe('rate limits and security headers', () => {
  const ctx = useApis();
  let prefixes = 0;

  /** A fresh key prefix per call, so each test's counters start from zero. */
  const nextPrefix = () => `lim${++prefixes}`;
  const api = (env: Record<string, string>, prefix = nextPrefix()) => ctx.api(prefix, env);
  /** Every rate-limit counter under a prefix, with its time to live. */
  const counters = async (prefix: string) => {
    const keys = await ctx.server.client.keys(`${prefix}:*:rl:*`);
    return Promise.all(keys.map(async (key) => ({ key, pttl: await ctx.server.client.pttl(key) })));
  };
  const assertRateLimited = (res: request.Response, windowMs: number) => {
    assert.equal(res.status, 429, JSON.stringify(res.body));
    assert.equal(bodyOf(res).error?.code, 'rate_limited');
    assert.equal(typeof bodyOf(res).error.message, 'string');
    const retryAfter = res.headers['retry-after'];
    assert.match(String(retryAfter), /^\d+$/, `Retry-After should be whole seconds: ${retryAfter}`);
    assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= Math.ceil(windowMs / 1000), `Retry-After ${retryAfter}`);
  };

  it('limits each client address with 429, Retry-After and rate_limited, shared by two API processes', async () => {
    const prefix = nextPrefix();
    const env = { RATE_LIMIT_PER_IP: '4', RATE_LIMIT_WINDOW_MS: '5000' };
    // Two apps with their own connections on one Redis, as two API processes behind a balancer.
    const [one, two] = [await api(env, prefix), await api(env, prefix)];
    for (let i = 0; i < 4; i++) {
      await request((i % 2 === 0 ? one : two).app)
        .get('/products/none')
        .expect(404);
    }
    assertRateLimited(await request(one.app).get('/products/none'), 5000);
    assertRateLimited(await request(two.app).get('/products/none'), 5000);
    assertRateLimited(await request(two.app).post('/orders').send({ productId: 'tv', userId: 'u', quantity: 1 }), 5000);
    const [counter, ...others] = await counters(prefix);
    assert.equal(others.length, 0, 'one client address should have one counter');
    assert.ok(
      counter && counter.pttl > 0 && counter.pttl <= 5000,
      `the counter must expire with the window: ${JSON.stringify(counter)}`,
    );
  });

  it('limits POST /orders per user after validation, and a refused order leaves no order and no job', async () => {
    const prefix = nextPrefix();
    const limited = await api({ RATE_LIMIT_PER_USER: '2', RATE_LIMIT_WINDOW_MS: '5000' }, prefix);
    await request(limited.app).put('/products/tv').set(admin).send({ stock: 100 }).expect(200);
    const order = (userId: string, quantity = 1) =>
      request(limited.app).post('/orders').send({ productId: 'tv', userId, quantity });

    // Invalid requests are refused before they are counted: they cannot use up a user's allowance.
    for (let i = 0; i < 3; i++) await order('alice', 0).expect(400);
    await order('alice').expect(202);
    await order('alice').expect(202);

    const orderKeys = () => ctx.server.client.keys(createKeys(prefix).order('tv', '*'));
    const jobCount = async () => Object.values(await limited.queue.getJobCounts()).reduce((sum, n) => sum + n, 0);
    const [keysBefore, ordersBefore, jobsBefore] = [
      await ctx.server.client.dbsize(),
      (await orderKeys()).length,
      await jobCount(),
    ];
    assert.equal(ordersBefore, 2);
    assertRateLimited(await order('alice'), 5000);
    assertRateLimited(
      await request(limited.app)
        .post('/orders')
        .set('Idempotency-Key', 'alice-retry-1')
        .send({ productId: 'tv', userId: 'alice', quantity: 1 }),
      5000,
    );
    assert.equal(await ctx.server.client.dbsize(), keysBefore, 'a refused order changed the key count');
    assert.equal((await orderKeys()).length, ordersBefore, 'a refused order was stored');
    assert.equal(await jobCount(), jobsBefore, 'a refused order was enqueued');

    const bob = await order('bob').expect(202);
    assert.deepEqual((await limited.queue.getJob(bodyOf(bob).orderId))?.data, {
      orderId: bodyOf(bob).orderId,
      productId: 'tv',
      userId: 'bob',
      quantity: 1,
    });
  });

  it('lets a client send again once the window has passed', async () => {
    const limited = await api({ RATE_LIMIT_PER_IP: '2', RATE_LIMIT_WINDOW_MS: '1000' });
    await request(limited.app).get('/products/none').expect(404);
    await request(limited.app).get('/products/none').expect(404);
    assertRateLimited(await request(limited.app).get('/products/none'), 1000);
    await sleep(1100);
    await request(limited.app).get('/products/none').expect(404);
  });

  it('ignores X-Forwarded-For with TRUST_PROXY=false', async () => {
    const limited = await api({ RATE_LIMIT_PER_IP: '2', RATE_LIMIT_WINDOW_MS: '5000', TRUST_PROXY: 'false' });
    await request(limited.app).get('/products/none').set('X-Forwarded-For', '203.0.113.1').expect(404);
    await request(limited.app).get('/products/none').set('X-Forwarded-For', '203.0.113.2').expect(404);
    assertRateLimited(await request(limited.app).get('/products/none').set('X-Forwarded-For', '203.0.113.3'), 5000);
  });

  it('keys on the X-Forwarded-For address with TRUST_PROXY=loopback, IPv6 included', async () => {
    const prefix = nextPrefix();
    const limited = await api(
      { RATE_LIMIT_PER_IP: '2', RATE_LIMIT_WINDOW_MS: '5000', TRUST_PROXY: 'loopback' },
      prefix,
    );
    const from = (address: string) => request(limited.app).get('/products/none').set('X-Forwarded-For', address);
    for (const address of ['203.0.113.1', '2001:db8::1']) {
      await from(address).expect(404);
      await from(address).expect(404);
      assertRateLimited(await from(address), 5000);
    }
    await from('203.0.113.2').expect(404);
    const found = await counters(prefix);
    assert.equal(found.length, 3, 'one counter per client address');
    for (const { key, pttl } of found) {
      assert.match(
        key,
        new RegExp(`^${prefix}:\\{ip:\\d+\\}:rl:ip:[A-Za-z0-9_-]+$`),
        `no {, } or : from the address in ${key}`,
      );
      assert.ok(pttl > 0 && pttl <= 5000, `${key} must expire: pttl ${pttl}`);
    }
  });

  it("never limits nor counts the admin's calls (the shop's backend), and counts a wrong token as anyone", async () => {
    const limited = await api({ RATE_LIMIT_PER_IP: '2', RATE_LIMIT_WINDOW_MS: '5000' });
    await request(limited.app).put('/products/tv').set(admin).send({ stock: 100 }).expect(200);
    for (let i = 0; i < 10; i++) await request(limited.app).get('/products/tv').set(admin).expect(200);
    // The same address without the token still has its whole allowance, and no more.
    await request(limited.app).get('/products/tv').expect(200);
    await request(limited.app)
      .get('/products/tv')
      .set({ authorization: `Bearer ${ADMIN_TOKEN}x` })
      .expect(200);
    assertRateLimited(await request(limited.app).get('/products/tv'), 5000);
    await request(limited.app).get('/products/tv').set(admin).expect(200);
  });

  it('never limits /healthz and /readyz, nor counts them', async () => {
    const limited = await api({ RATE_LIMIT_PER_IP: '1', RATE_LIMIT_WINDOW_MS: '5000' });
    for (let i = 0; i < 20; i++) {
      await request(limited.app).get('/healthz').expect(200);
      await request(limited.app).get('/readyz').expect(200);
    }
    await request(limited.app).get('/products/none').expect(404);
    assertRateLimited(await request(limited.app).get('/products/none'), 5000);
    await request(limited.app).get('/healthz').expect(200);
  });

  it('sends helmet security headers on every answer, and no X-Powered-By', async () => {
    const limited = await api({ RATE_LIMIT_PER_IP: '1', RATE_LIMIT_WINDOW_MS: '5000' });
    const answers = [
      await request(limited.app).get('/healthz').expect(200),
      await request(limited.app).get('/products/none').expect(404),
      await request(limited.app).get('/products/none').expect(429),
    ];
    for (const res of answers) {
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(res.headers['x-frame-options'], 'SAMEORIGIN');
      assert.match(String(res.headers['content-security-policy']), /default-src 'self'/);
      assert.match(String(res.headers['strict-transport-security']), /max-age=\d+/);
      assert.equal(res.headers['x-powered-by'], undefined);
    }
  });

  it('answers 503 unavailable, never 500, when Redis does not answer the limiter, and limits again once it is back', async () => {
    const down = await startRedis();
    let running = true;
    try {
      const limited = await ctx.api('down', { RATE_LIMIT_PER_IP: '5', RATE_LIMIT_PER_USER: '5' }, down);
      await request(limited.app).get('/nowhere').expect(404);
      await down.kill();
      running = false;
      // Without Redis the route itself would answer 404: this 503 comes from the limiter.
      const res = await request(limited.app).get('/nowhere');
      assert.equal(res.status, 503, JSON.stringify(res.body));
      assert.equal(bodyOf(res).error.code, 'unavailable');
      await request(limited.app).get('/healthz').expect(200);
      await down.start();
      running = true;
      let status = 0;
      for (let i = 0; i < 50 && status !== 404; i++) {
        status = (await request(limited.app).get('/nowhere')).status;
        if (status !== 404) await sleep(100);
      }
      assert.equal(status, 404);
    } finally {
      // stop() waits for the server's exit, which a killed server has already had.
      if (!running) await down.start();
      await down.stop();
    }
  });
});

describe('rate-limit and proxy settings', () => {
  const load = (env: Record<string, string>) => loadConfig(env);

  it('defaults to 200 per address and 5 per user each second, and trusts no proxy', () => {
    const config = load({});
    assert.deepEqual(config.rateLimit, { windowMs: 1000, perIp: 200, perUser: 5 });
    assert.equal(config.trustProxy, false);
  });

  it('reads TRUST_PROXY as false, true, a hop count or a list of addresses', () => {
    assert.equal(load({ TRUST_PROXY: 'false' }).trustProxy, false);
    assert.equal(load({ TRUST_PROXY: 'true' }).trustProxy, true);
    assert.equal(load({ TRUST_PROXY: '2' }).trustProxy, 2);
    assert.deepEqual(load({ TRUST_PROXY: 'loopback, 10.0.0.0/8,fd00::/8, 192.0.2.7' }).trustProxy, [
      'loopback',
      '10.0.0.0/8',
      'fd00::/8',
      '192.0.2.7',
    ]);
  });

  it('refuses a bad TRUST_PROXY or a negative limit, naming the setting', () => {
    const bad: Record<string, string>[] = [
      { TRUST_PROXY: 'yes' },
      { TRUST_PROXY: '10.0.0.0/33' },
      { TRUST_PROXY: 'loopback,,10.0.0.1' },
      { RATE_LIMIT_PER_IP: '-1' },
      { RATE_LIMIT_WINDOW_MS: '0' },
    ];
    for (const env of bad) {
      const [name] = Object.keys(env);
      assert.throws(
        () => load(env),
        (error: unknown) => error instanceof ConfigError && error.message.includes(name!),
        JSON.stringify(env),
      );
    }
  });
});
