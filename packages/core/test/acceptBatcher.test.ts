import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createOrdersQueue,
  decodeClaimBuyers,
  decodeRecordOrders,
  getOrder,
  loadConfig,
  ordersOf,
  setProduct,
  type OrderAcceptor,
  type Keys,
  type OrderJob,
} from '../src/index.ts';
import { acceptOrThrow, testAcceptor } from '@flashline/test-utils';
import { snapshot, uniqueKeys, useRedis } from './helpers.ts';

describe('accept batches (group commit of the accept path)', () => {
  const ctx = useRedis();

  function setup(acceptBatch = 64) {
    const keys = uniqueKeys();
    const config = loadConfig({ REDIS_URL: ctx.server.url, KEY_PREFIX: keys.prefix });
    const queue = createOrdersQueue(config, ctx.redis);
    const deps = testAcceptor({ redis: ctx.redis, keys, queue }, { acceptBatch });
    return { keys, queue, deps };
  }

  /** Every job in the queue and the orders each carries. */
  async function jobsOf(deps: OrderAcceptor & { keys: Keys }, queue: ReturnType<typeof createOrdersQueue>) {
    const jobs = await queue.getJobs(['wait', 'active', 'delayed', 'completed', 'failed', 'prioritized']);
    return jobs.map((job) => ({ id: job.id!, name: job.name, orders: ordersOf(job.data) }));
  }

  it('records the orders that arrive together with one call per product and enqueues them as one job', async () => {
    const { keys, queue, deps } = setup();
    for (const productId of ['a', 'b', 'c']) await setProduct(ctx.redis, keys, productId, { stock: 100 });
    const accepted = await Promise.all(
      Array.from({ length: 150 }, (_, i) =>
        acceptOrThrow(deps, { productId: 'abc'[i % 3]!, userId: `u${i}`, quantity: 1 }),
      ),
    );
    assert.ok(accepted.every((a) => a.status === 'queued'));
    const jobs = await jobsOf({ ...deps, keys }, queue);
    // 150 orders, batches of at most 64: three jobs, not 150.
    assert.equal(jobs.length, 3, `expected 3 jobs, got ${jobs.length}`);
    assert.ok(jobs.every((job) => job.name === 'orders' && job.id.startsWith('batch~') && job.orders.length <= 64));
    const enqueued = jobs.flatMap((job) => job.orders.map((order) => order.orderId));
    assert.equal(new Set(enqueued).size, 150, 'an order was enqueued twice');
    assert.deepEqual(new Set(enqueued), new Set(accepted.map((a) => a.orderId)));
    // Each order names the job it travels in, for the reconciler.
    for (const job of jobs) {
      for (const order of job.orders)
        assert.equal(await ctx.redis.hget(keys.order(order.productId, order.orderId), 'job'), job.id);
    }
    assert.equal(await ctx.redis.hget(keys.product('a'), 'accepted'), '50');
    assert.equal(await ctx.redis.zcard(keys.pending('b')), 50);
    assert.deepEqual(deps.batcher.stats, { jobs: 3, orders: 150 });
    await queue.close();
  });

  it('enqueues a lone order alone, under its own id, as it was', async () => {
    const { keys, queue, deps } = setup();
    await setProduct(ctx.redis, keys, 'p', { stock: 1 });
    const { orderId } = await acceptOrThrow(deps, { productId: 'p', userId: 'alice', quantity: 1 });
    const job = await queue.getJob(orderId);
    assert.deepEqual(job?.data, { orderId, productId: 'p', userId: 'alice', quantity: 1 });
    assert.equal(await ctx.redis.hget(keys.order('p', orderId), 'job'), null);
    await queue.close();
  });

  it('with ACCEPT_BATCH=1, makes one job per order', async () => {
    const { keys, queue, deps } = setup(1);
    await setProduct(ctx.redis, keys, 'p', { stock: 100 });
    const accepted = await Promise.all(
      Array.from({ length: 20 }, (_, i) => acceptOrThrow(deps, { productId: 'p', userId: `u${i}`, quantity: 1 })),
    );
    const jobs = await jobsOf({ ...deps, keys }, queue);
    assert.equal(jobs.length, 20);
    assert.deepEqual(new Set(jobs.map((job) => job.id)), new Set(accepted.map((a) => a.orderId)));
    await queue.close();
  });

  it('refuses only the orders of an unknown or sold-out product in a batch, and records nothing for them', async () => {
    const { keys, queue, deps } = setup();
    await setProduct(ctx.redis, keys, 'ok', { stock: 10 });
    await setProduct(ctx.redis, keys, 'gone', { stock: 1 });
    const before = await snapshot(ctx.redis, keys);
    const outcomes = await Promise.allSettled([
      acceptOrThrow(deps, { productId: 'ok', userId: 'a', quantity: 1 }),
      acceptOrThrow(deps, { productId: 'nope', userId: 'b', quantity: 1 }),
      acceptOrThrow(deps, { productId: 'gone', userId: 'c', quantity: 2 }),
      acceptOrThrow(deps, { productId: 'ok', userId: 'd', quantity: 1 }),
    ]);
    const codes = outcomes.map((o) =>
      o.status === 'fulfilled' ? o.value.status : (o.reason as { code: string }).code,
    );
    assert.deepEqual(codes, ['queued', 'unknown_product', 'sold_out', 'queued']);
    const jobs = await jobsOf({ ...deps, keys }, queue);
    assert.equal(jobs.length, 1);
    assert.deepEqual(jobs[0]!.orders.map((o) => o.userId).sort(), ['a', 'd']);
    // Nothing of the refused orders was written: only the two accepted ones (and their product counters).
    const after = await snapshot(ctx.redis, keys);
    const added = Object.keys(after).filter((key) => !(key in before) && !key.includes('{queue}'));
    assert.deepEqual(
      added.map((key) => key.replace(/order:.*/, 'order')).sort(),
      [
        keys.order('ok', 'x').replace(/order:.*/, 'order'),
        keys.order('ok', 'x').replace(/order:.*/, 'order'),
        keys.pending('ok'),
      ].sort(),
    );
    assert.equal(after[keys.product('gone')], before[keys.product('gone')], 'the sold-out product changed');
    await queue.close();
  });

  it('records and enqueues once an order that comes twice in one batch (a retry racing itself)', async () => {
    const { keys, queue, deps } = setup();
    await setProduct(ctx.redis, keys, 'p', { stock: 10 });
    const request = { productId: 'p', userId: 'bob', quantity: 2 };
    const replies = await Promise.all([1, 2, 3].map(() => acceptOrThrow(deps, request, 'key-bob')));
    assert.equal(new Set(replies.map((r) => r.orderId)).size, 1);
    const jobs = await jobsOf({ ...deps, keys }, queue);
    assert.deepEqual(
      jobs.map((job) => job.orders.length),
      [1],
    );
    assert.equal(await ctx.redis.hget(keys.product('p'), 'accepted'), '1');
    await queue.close();
  });

  it('enqueues again, under its own id, a retried order still queued whose batch job was lost', async () => {
    const { keys, queue, deps } = setup();
    await setProduct(ctx.redis, keys, 'p', { stock: 10 });
    const [first] = await Promise.all([
      acceptOrThrow(deps, { productId: 'p', userId: 'carol', quantity: 1 }, 'key-carol'),
      acceptOrThrow(deps, { productId: 'p', userId: 'dan', quantity: 1 }, 'key-dan'),
    ]);
    const batchId = (await ctx.redis.hget(keys.order('p', first.orderId), 'job'))!;
    assert.match(batchId, /^batch~/, 'the two orders did not travel in one batch');
    await (await queue.getJob(batchId))!.remove(); // the job is lost
    const retry = await acceptOrThrow(deps, { productId: 'p', userId: 'carol', quantity: 1 }, 'key-carol');
    assert.deepEqual(retry, first);
    const job = await queue.getJob(first.orderId);
    assert.deepEqual(job?.data, {
      orderId: first.orderId,
      productId: 'p',
      userId: 'carol',
      quantity: 1,
    } satisfies OrderJob);
    assert.equal((await getOrder(ctx.redis, keys, first.orderId))?.status, 'queued');
    assert.equal(await ctx.redis.hget(keys.product('p'), 'accepted'), '2', 'the retry counted a second acceptance');
    await queue.close();
  });
  it('refuses a call with a malformed order whole: the orders before it are not recorded either', async () => {
    const keys = uniqueKeys();
    await setProduct(ctx.redis, keys, 'p', { stock: 10 });
    const before = await snapshot(ctx.redis, keys);
    const good = { orderId: 'p.AAAAAAAAAAAAAAAA', userId: 'alice', quantity: '1' };
    for (const bad of [
      { orderId: 'p.BBBBBBBBBBBBBBBB', userId: 'bob', quantity: 'x' },
      { orderId: 'p.BBBBBBBBBBBBBBBB', userId: 'bo b', quantity: '1' },
      { orderId: 'p:{g:1}', userId: 'bob', quantity: '1' },
    ]) {
      const orders = [good, bad];
      // The products' step, and the buyers' step for the same orders (counted, mode 2): neither may write.
      const record = await ctx.redis.recordOrders([
        2 + orders.length,
        keys.product('p'),
        keys.pending('p'),
        ...orders.map((o) => keys.order('p', o.orderId)),
        Date.now(),
        'batch~test',
        1,
        'p',
        orders.length,
        ...orders.flatMap((o) => [o.orderId, o.userId, o.quantity]),
      ]);
      assert.deepEqual(decodeRecordOrders(record, orders.length), { kind: 'invalid_arguments' }, JSON.stringify(bad));
      // The buyers' step checks what it is given (order ids, modes): a bad order id refuses it whole.
      if (bad.orderId.includes('{')) {
        const claim = await ctx.redis.claimBuyers([
          orders.length,
          ...orders.map((o) => keys.rateLimit('user', o.userId)),
          5,
          1000,
          60,
          ...orders.flatMap((o) => [o.orderId, '-', 2]),
        ]);
        assert.deepEqual(decodeClaimBuyers(claim, orders.length), { kind: 'invalid_arguments' }, JSON.stringify(bad));
      }
    }
    assert.deepEqual(await snapshot(ctx.redis, keys), before, 'a refused call wrote something');
  });
});
