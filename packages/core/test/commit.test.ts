import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { productsOfOneGroup } from '@flashline/test-utils';
import {
  AppError,
  OrderBatcher,
  PRODUCT_GROUPS,
  ProductLocks,
  commitSections,
  failOrders,
  getOrder,
  getProduct,
  getProductStats,
  setProduct,
  type Keys,
  type OrderJob,
} from '../src/index.ts';
import {
  claimAndCommit,
  commitOrder,
  commitOrders,
  recordOrder,
  recordAsAccepted,
  scriptedClient,
  snapshot,
  uniqueKeys,
  useRedis,
} from './helpers.ts';

const MAX_QUANTITY = 10;
const RULES = { maxQuantity: MAX_QUANTITY, orderRetentionMs: 60_000 };

describe('order commit', () => {
  const ctx = useRedis();

  let seq = 0;
  const order = (productId: string, userId: string, quantity: number): OrderJob => ({
    orderId: `${productId}.${String(++seq).padStart(16, '0')}`,
    productId,
    userId,
    quantity,
  });
  /** A section's five keys, in the order lua/commitOrders-n.lua reads them. */
  const sectionKeys = (keys: Keys, productId: string) => [
    keys.product(productId),
    keys.buyers(productId),
    keys.fence(productId),
    keys.pending(productId),
    keys.lock(productId),
  ];
  /**
   * A raw call of one product's keys and one order key: numkeys, the keys, the shared arguments
   * (now, MAX_QUANTITY, no test flags, `retention`), then `sections` as given (count, then each).
   */
  const oneSectionCall = (
    keys: Keys,
    productId: string,
    sections: (string | number)[],
    retention: string | number = RULES.orderRetentionMs,
  ): (string | number)[] => [
    6,
    ...sectionKeys(keys, productId),
    keys.order(productId, 'p.x'),
    Date.now(),
    MAX_QUANTITY,
    '',
    retention,
    ...sections,
  ];
  /** The product's current fencing token, as a lock holder would have it. */
  async function fenceOf(keys: Keys, productId: string): Promise<number> {
    const locks = new ProductLocks(ctx.redis, keys, { ttlMs: 60_000, maxWaitMs: 0, retryMs: 1 });
    return (await locks.acquire(productId)).fence;
  }

  it('is idempotent under replay: a re-run decides nothing twice', async () => {
    const keys = uniqueKeys();
    await setProduct(ctx.redis, keys, 'p', { stock: 10 });
    const fence = await fenceOf(keys, 'p');
    const o = order('p', 'u1', 4);
    const first = await commitOrder(ctx.redis, keys, o, fence, RULES);
    // A retried job, a stalled job run again, a re-sent command: 20 replays, some concurrent.
    const replays = await Promise.all(Array.from({ length: 20 }, () => commitOrder(ctx.redis, keys, o, fence, RULES)));
    assert.equal(first.applied, true);
    assert.ok(replays.every((r) => !r.applied && r.decision.status === 'confirmed'));
    assert.deepEqual(await getProduct(ctx.redis, keys, 'p'), {
      productId: 'p',
      stock: 6,
      sold: 4,
      perUserLimit: null,
      opensAt: null,
      closesAt: null,
    });
    assert.equal(await ctx.redis.hget(keys.buyers('p'), 'u1'), '4');
  });

  it('replays a decision even after a newer lock holder took the fence', async () => {
    const keys = uniqueKeys();
    await setProduct(ctx.redis, keys, 'p', { stock: 1 });
    const fence = await fenceOf(keys, 'p');
    const o = order('p', 'u1', 1);
    await commitOrder(ctx.redis, keys, o, fence, RULES);
    await ctx.redis.del(keys.lock('p'));
    await fenceOf(keys, 'p');
    const replay = await commitOrder(ctx.redis, keys, o, fence, RULES);
    assert.deepEqual(replay, { decision: { status: 'confirmed' }, applied: false });
  });

  it('never takes stock below zero', async () => {
    const keys = uniqueKeys();
    await setProduct(ctx.redis, keys, 'p', { stock: 25 });
    const fence = await fenceOf(keys, 'p');
    const orders = Array.from({ length: 60 }, (_, i) => order('p', `u${i}`, 1 + (i % 3)));
    const results = await Promise.all(orders.map((o) => commitOrder(ctx.redis, keys, o, fence, RULES)));
    const product = (await getProduct(ctx.redis, keys, 'p'))!;
    const confirmedUnits = orders.reduce(
      (sum, o, i) => sum + (results[i]!.decision.status === 'confirmed' ? o.quantity : 0),
      0,
    );
    assert.ok(product.stock >= 0, `stock went to ${product.stock}`);
    assert.equal(product.stock + confirmedUnits, 25, 'units confirmed + left != initial');
    assert.equal(product.sold, confirmedUnits);
    assert.ok(product.stock < 3, 'stock left while a 1-unit order was refused');
    const reasons = new Set(
      results.filter((r) => r.decision.status === 'rejected').map((r) => 'reason' in r.decision && r.decision.reason),
    );
    assert.deepEqual([...reasons], ['sold_out']);
  });

  it('holds the per-user limit', async () => {
    const keys = uniqueKeys();
    await setProduct(ctx.redis, keys, 'p', { stock: 100, perUserLimit: 3 });
    const fence = await fenceOf(keys, 'p');
    const mine = [1, 1, 2, 1, 1].map((q) => order('p', 'greedy', q));
    const results = await Promise.all(mine.map((o) => commitOrder(ctx.redis, keys, o, fence, RULES)));
    const bought = Number(await ctx.redis.hget(keys.buyers('p'), 'greedy'));
    assert.ok(bought <= 3, `user bought ${bought} over a limit of 3`);
    assert.equal(bought, 3);
    assert.ok(results.some((r) => r.decision.status === 'rejected' && r.decision.reason === 'limit_exceeded'));
    const other = await commitOrder(ctx.redis, keys, order('p', 'someone', 3), fence, RULES);
    assert.deepEqual(other.decision, { status: 'confirmed' }, "one user's limit blocked another");
  });

  it('refuses bad arguments from a caller that bypasses the API, changing nothing', async () => {
    const keys = uniqueKeys();
    await setProduct(ctx.redis, keys, 'p', { stock: 10 });
    const fence = await fenceOf(keys, 'p');
    const before = await snapshot(ctx.redis, keys);
    const bad: [string, string, string | number][] = [
      ['p', 'u', 0],
      ['p', 'u', -1],
      ['p', 'u', 1.5],
      ['p', 'u', 11],
      ['p', 'u', 'abc'],
      ['p', 'u', '1e1'],
      ['p', 'u:x', 1],
      ['p', 'u{x}', 1],
      ['p', '', 1],
      ['p', 'x'.repeat(65), 1],
    ];
    for (const [productId, userId, quantity] of bad) {
      const reply = await ctx.redis.commitOrders(
        oneSectionCall(keys, productId, [1, productId, fence, 1, userId, quantity]),
      );
      assert.deepEqual(reply, [0, 'invalid', '', 0], `accepted userId=${userId} quantity=${quantity}`);
    }
    // Shared arguments: a retention that is not a positive whole number of milliseconds.
    for (const retention of ['0', '-5', '1.5', 'x', '']) {
      const reply = await ctx.redis.commitOrders(oneSectionCall(keys, 'p', [1, 'p', fence, 1, 'u', 1], retention));
      assert.equal(reply, -2, `accepted retention ${JSON.stringify(retention)}`);
    }
    // The layout of sections: counts that do not match the keys and arguments, a product twice.
    const layouts: [string, (string | number)[]][] = [
      ['one order too many', oneSectionCall(keys, 'p', [1, 'p', fence, 2, 'u', 1])],
      ['a second section without keys', oneSectionCall(keys, 'p', [2, 'p', fence, 1, 'u', 1])],
      ['no section count', oneSectionCall(keys, 'p', ['p', fence, 1, 'u', 1])],
      [
        'the same product twice',
        [
          12,
          ...sectionKeys(keys, 'p'),
          keys.order('p', 'p.x'),
          ...sectionKeys(keys, 'p'),
          keys.order('p', 'p.y'),
          Date.now(),
          MAX_QUANTITY,
          '',
          RULES.orderRetentionMs,
          2,
          'p',
          fence,
          1,
          'u',
          1,
          'p',
          fence,
          1,
          'v',
          1,
        ],
      ],
    ];
    for (const [what, call] of layouts) assert.equal(await ctx.redis.commitOrders(call), -2, `accepted ${what}`);
    assert.deepEqual(await snapshot(ctx.redis, keys), before);
  });

  it('refuses a job whose arguments contradict the stored order', async () => {
    const keys = uniqueKeys();
    await setProduct(ctx.redis, keys, 'p', { stock: 10 });
    const o = order('p', 'u1', 1);
    await recordOrder(ctx.redis, keys, 'p', o.orderId, 'u1', 1);
    const fence = await fenceOf(keys, 'p');
    await assert.rejects(
      commitOrder(ctx.redis, keys, { ...o, quantity: 9 }, fence, RULES),
      (e: unknown) => e instanceof AppError && e.code === 'invalid_request',
    );
    assert.equal(await ctx.redis.hget(keys.product('p'), 'stock'), '10');
  });

  it('decides only orders the accept path recorded: an order with no record (made by hand, or expired) changes nothing', async () => {
    const keys = uniqueKeys();
    await setProduct(ctx.redis, keys, 'p', { stock: 10 });
    const accepted = order('p', 'u1', 2);
    await recordOrder(ctx.redis, keys, 'p', accepted.orderId, 'u1', 2);
    const minted = order('p', 'u2', 3); // a job added by hand: no record
    const commit = async (orders: OrderJob[]) => {
      const reply = await commitSections(ctx.redis, keys, [{ productId: 'p', fence: 'claim', orders }], RULES);
      const section = reply.kind === 'sections' ? reply.sections[0] : undefined;
      assert.equal(section?.kind, 'decided');
      return section.kind === 'decided'
        ? section.orders.map((o) => (o.kind === 'decided' ? o.decision.status : o.kind))
        : [];
    };
    assert.deepEqual(await commit([minted, accepted]), ['unknown', 'confirmed']);
    assert.equal(await ctx.redis.exists(keys.order('p', minted.orderId)), 0, 'the minted order got a record');
    assert.deepEqual(await ctx.redis.hgetall(keys.buyers('p')), { u1: '2' });
    // The accepted order's record expires after its retention; the job is retried after that.
    await ctx.redis.del(keys.order('p', accepted.orderId));
    const before = await snapshot(ctx.redis, keys);
    assert.deepEqual(await commit([accepted, minted]), ['unknown', 'unknown']);
    assert.deepEqual(await snapshot(ctx.redis, keys), before);
    assert.equal(
      (await getProduct(ctx.redis, keys, 'p'))?.stock,
      8,
      'an order was applied twice, or a minted one once',
    );
  });

  it('ends an exhausted order as processing_failed, but never overrides a decision', async () => {
    const keys = uniqueKeys();
    await setProduct(ctx.redis, keys, 'p', { stock: 10 });
    const queued = order('p', 'u1', 1);
    const decided = order('p', 'u2', 1);
    for (const o of [queued, decided]) await recordOrder(ctx.redis, keys, 'p', o.orderId, o.userId, 1);
    await commitOrder(ctx.redis, keys, decided, await fenceOf(keys, 'p'), RULES);
    assert.equal(
      await failOrders(ctx.redis, keys, [queued], RULES.orderRetentionMs),
      1,
      'the queued order was not ended',
    );
    assert.equal(await failOrders(ctx.redis, keys, [decided], RULES.orderRetentionMs), 0, 'a decision was overridden');
    const before = await snapshot(ctx.redis, keys);
    const never = order('p', 'u3', 1); // never recorded: nothing to end, nothing written
    assert.equal(await failOrders(ctx.redis, keys, [never], RULES.orderRetentionMs), 0, 'an unknown order was ended');
    assert.deepEqual(await snapshot(ctx.redis, keys), before);
    assert.equal((await getOrder(ctx.redis, keys, queued.orderId))?.reason, 'processing_failed');
    assert.equal((await getOrder(ctx.redis, keys, decided.orderId))?.status, 'confirmed');
    assert.equal(await ctx.redis.zcard(keys.pending('p')), 0, 'decided orders left in the pending index');
  });

  it('counts accepted and decided orders per product once each, and lets decided orders expire', async () => {
    const keys = uniqueKeys();
    await setProduct(ctx.redis, keys, 'p', { stock: 2, perUserLimit: 1 });
    const orders = [
      order('p', 'a', 1),
      order('p', 'a', 1),
      order('p', 'b', 1),
      order('p', 'c', 1),
      order('p', 'd', 1),
      order('p', 'e', 1),
    ];
    for (const o of orders) await recordOrder(ctx.redis, keys, 'p', o.orderId, o.userId, 1);
    const [stalled, ...rest] = orders;
    const decidable = rest.slice(0, 4); // a (over the limit), b, c (sold out), d (sold out); e stays queued
    const fence = await fenceOf(keys, 'p');
    await commitOrders(ctx.redis, keys, 'p', decidable, fence, RULES);
    await commitOrders(ctx.redis, keys, 'p', decidable, fence, RULES); // a replay counts nothing again
    await failOrders(ctx.redis, keys, [stalled!], RULES.orderRetentionMs);
    await failOrders(ctx.redis, keys, [stalled!], RULES.orderRetentionMs);
    const [stats] = await getProductStats(ctx.redis, keys, ['p', 'unknown']);
    // 'a' first order failed (processing_failed); second 'a' confirmed; b confirmed; c, d sold out.
    assert.deepEqual(stats, {
      productId: 'p',
      stock: 0,
      sold: 2,
      accepted: 6,
      queued: 1,
      confirmed: 2,
      rejected: { sold_out: 2, limit_exceeded: 0, processing_failed: 1 },
    });
    for (const o of [stalled!, ...decidable]) {
      const ttl = await ctx.redis.pttl(keys.order('p', o.orderId));
      assert.ok(ttl > 0 && ttl <= RULES.orderRetentionMs, `decided order ${o.orderId} has ttl ${ttl}`);
    }
    assert.equal(await ctx.redis.pttl(keys.order('p', rest[4]!.orderId)), -1, 'an undecided order must not expire');
  });

  it("decides a batch in order: one user's limit and the stock hold inside the batch", async () => {
    const keys = uniqueKeys();
    await setProduct(ctx.redis, keys, 'p', { stock: 5, perUserLimit: 2 });
    const fence = await fenceOf(keys, 'p');
    const batch = [
      order('p', 'ann', 1),
      order('p', 'ann', 1),
      order('p', 'ann', 1),
      order('p', 'bob', 2),
      order('p', 'cid', 2),
      order('p', 'dan', 1),
    ];
    const results = await commitOrders(ctx.redis, keys, 'p', batch, fence, RULES);
    const outcomes = results.map((r) =>
      r instanceof AppError ? r.code : r.decision.status === 'rejected' ? r.decision.reason : r.decision.status,
    );
    assert.deepEqual(outcomes, ['confirmed', 'confirmed', 'limit_exceeded', 'confirmed', 'sold_out', 'confirmed']);
    assert.deepEqual(await getProduct(ctx.redis, keys, 'p'), {
      productId: 'p',
      stock: 0,
      sold: 5,
      perUserLimit: 2,
      opensAt: null,
      closesAt: null,
    });
    // Replayed whole: nothing changes, the decisions come back.
    const replay = await commitOrders(ctx.redis, keys, 'p', batch, fence, RULES);
    assert.ok(replay.every((r) => !(r instanceof AppError) && !r.applied));
    assert.equal((await getProduct(ctx.redis, keys, 'p'))?.stock, 0);
  });

  it('decides an order that appears twice in one batch once (a job delivered twice to one process)', async () => {
    const keys = uniqueKeys();
    await setProduct(ctx.redis, keys, 'p', { stock: 10 });
    const fence = await fenceOf(keys, 'p');
    const twice = order('p', 'ann', 3);
    const results = await commitOrders(ctx.redis, keys, 'p', [twice, order('p', 'bob', 1), twice], fence, RULES);
    assert.deepEqual(results, [
      { decision: { status: 'confirmed' }, applied: true },
      { decision: { status: 'confirmed' }, applied: true },
      { decision: { status: 'confirmed' }, applied: false },
    ]);
    assert.deepEqual(await getProduct(ctx.redis, keys, 'p'), {
      productId: 'p',
      stock: 6,
      sold: 4,
      perUserLimit: null,
      opensAt: null,
      closesAt: null,
    });
    assert.equal(await ctx.redis.hget(keys.buyers('p'), 'ann'), '3');
    assert.equal((await getProductStats(ctx.redis, keys, ['p']))[0]?.confirmed, 2);
  });

  it('keeps an invalid order of a batch from blocking the others, and refuses a stale batch whole', async () => {
    const keys = uniqueKeys();
    await setProduct(ctx.redis, keys, 'p', { stock: 5 });
    const fence = await fenceOf(keys, 'p');
    const results = await commitOrders(
      ctx.redis,
      keys,
      'p',
      [order('p', 'ok', 1), order('p', 'bad', 99)],
      fence,
      RULES,
    );
    assert.ok(!(results[0] instanceof AppError) && results[0]!.decision.status === 'confirmed');
    assert.ok(results[1] instanceof AppError && results[1].code === 'invalid_request');
    await ctx.redis.del(keys.lock('p'));
    await fenceOf(keys, 'p'); // a newer holder
    await assert.rejects(
      commitOrders(ctx.redis, keys, 'p', [order('p', 'late', 1)], fence, RULES),
      (e: unknown) => e instanceof AppError && e.code === 'lease_lost',
    );
    assert.equal((await getProduct(ctx.redis, keys, 'p'))?.stock, 4);
  });

  it('batches the concurrent orders of a product across processes, selling exactly the stock', async () => {
    const keys = uniqueKeys();
    await setProduct(ctx.redis, keys, 'hot', { stock: 150 });
    const settings = { ttlMs: 2000, maxWaitMs: 10_000, retryMs: 2 };
    // Three batchers on three connections: three worker processes.
    const clients = [0, 1, 2].map(() => scriptedClient(ctx.server));
    const batchers = clients.map(
      (redis) =>
        new OrderBatcher({ redis, keys, locks: new ProductLocks(redis, keys, settings), rules: RULES, maxBatch: 64 }),
    );
    const orders = Array.from({ length: 300 }, (_, i) => order('hot', `u${i}`, 1));
    await recordAsAccepted(ctx.redis, keys, orders);
    const results = await Promise.all(orders.map((o, i) => batchers[i % 3]!.decide(o)));
    clients.forEach((c) => c.disconnect());
    assert.equal(results.filter((r) => r.decision.status === 'confirmed').length, 150);
    assert.deepEqual(await getProduct(ctx.redis, keys, 'hot'), {
      productId: 'hot',
      stock: 0,
      sold: 150,
      perUserLimit: null,
      opensAt: null,
      closesAt: null,
    });
    const batches = batchers.reduce((sum, b) => sum + b.stats.batches, 0);
    assert.ok(batches < 30, `300 concurrent orders took ${batches} commits: not batched`);
  });

  describe('a commit that claims the lock itself', () => {
    it('claims a free lock inside the script: decides, takes a new fencing token, leaves no lock behind', async () => {
      const keys = uniqueKeys();
      await setProduct(ctx.redis, keys, 'p', { stock: 1 });
      const stale = await fenceOf(keys, 'p'); // an earlier holder...
      await ctx.redis.del(keys.lock('p')); // ...whose lease ended
      const results = await claimAndCommit(ctx.redis, keys, 'p', [order('p', 'a', 1), order('p', 'b', 1)], RULES);
      assert.deepEqual(
        results?.map((r) => (r instanceof AppError ? r.code : r.decision.status)),
        ['confirmed', 'rejected'],
      );
      assert.equal(await ctx.redis.exists(keys.lock('p')), 0);
      assert.equal(Number(await ctx.redis.get(keys.fence('p'))), stale + 1, 'the claim took no fencing token');
      // The earlier holder, late, is fenced off.
      await assert.rejects(
        commitOrders(ctx.redis, keys, 'p', [order('p', 'late', 1)], stale, RULES),
        (e: unknown) => e instanceof AppError && e.code === 'lease_lost',
      );
    });

    it('changes nothing while another holder has the lock', async () => {
      const keys = uniqueKeys();
      await setProduct(ctx.redis, keys, 'p', { stock: 5 });
      await fenceOf(keys, 'p'); // held
      const orders = [order('p', 'a', 1)];
      await recordAsAccepted(ctx.redis, keys, orders);
      const before = await snapshot(ctx.redis, keys);
      assert.equal(await claimAndCommit(ctx.redis, keys, 'p', orders, RULES), null);
      assert.deepEqual(await snapshot(ctx.redis, keys), before);
    });

    it('in a batcher, falls back to waiting for a held lock, and decides once it is free', async () => {
      const keys = uniqueKeys();
      await setProduct(ctx.redis, keys, 'p', { stock: 5 });
      await ctx.redis.set(keys.lock('p'), 'someone-else', 'PX', 150);
      const batcher = new OrderBatcher({
        redis: ctx.redis,
        keys,
        locks: new ProductLocks(ctx.redis, keys, { ttlMs: 2000, maxWaitMs: 5000, retryMs: 5 }),
        rules: RULES,
        maxBatch: 64,
      });
      const a = order('p', 'a', 1);
      await recordAsAccepted(ctx.redis, keys, [a]);
      const startedAt = Date.now();
      const result = await batcher.decide(a);
      assert.equal(result.decision.status, 'confirmed');
      assert.ok(Date.now() - startedAt >= 100, 'decided while another holder had the lock');
    });
  });
  describe('one commit for several products of one group', () => {
    it('decides each product on its own: its stock, its ledger, its counters', async () => {
      const keys = uniqueKeys();
      const [a, b] = productsOfOneGroup(keys, 2) as [string, string];
      await setProduct(ctx.redis, keys, a, { stock: 1 });
      await setProduct(ctx.redis, keys, b, { stock: 5, perUserLimit: 2 });
      const ofA = [order(a, 'u1', 1), order(a, 'u2', 1)];
      const ofB = [order(b, 'u1', 2), order(b, 'u1', 1), order(b, 'u2', 1)];
      await recordAsAccepted(ctx.redis, keys, [...ofA, ...ofB]);
      const outcomes = await commitSections(
        ctx.redis,
        keys,
        [
          { productId: a, fence: 'claim', orders: ofA },
          { productId: b, fence: 'claim', orders: ofB },
        ],
        RULES,
      );
      assert.equal(outcomes.kind, 'sections');
      const statuses = (outcomes.kind === 'sections' ? outcomes.sections : []).map((section) =>
        section.kind === 'decided'
          ? section.orders.map((r) =>
              r.kind !== 'decided' ? r.kind : r.decision.status === 'rejected' ? r.decision.reason : r.decision.status,
            )
          : section.kind,
      );
      assert.deepEqual(statuses, [
        ['confirmed', 'sold_out'],
        ['confirmed', 'limit_exceeded', 'confirmed'],
      ]);
      assert.deepEqual(await getProduct(ctx.redis, keys, a), {
        productId: a,
        stock: 0,
        sold: 1,
        perUserLimit: null,
        opensAt: null,
        closesAt: null,
      });
      assert.deepEqual(await getProduct(ctx.redis, keys, b), {
        productId: b,
        stock: 2,
        sold: 3,
        perUserLimit: 2,
        opensAt: null,
        closesAt: null,
      });
      assert.deepEqual(await ctx.redis.hgetall(keys.buyers(b)), { u1: '2', u2: '1' });
      const [stats] = await getProductStats(ctx.redis, keys, [b]);
      assert.equal(stats?.confirmed, 2);
      assert.equal(stats?.rejected.limit_exceeded, 1);
    });

    it('refuses one product (unknown, or its lock held) and still decides the others; the refused one changes nothing', async () => {
      const keys = uniqueKeys();
      const [held, unknown, free] = productsOfOneGroup(keys, 3) as [string, string, string];
      await setProduct(ctx.redis, keys, held, { stock: 5 });
      await setProduct(ctx.redis, keys, free, { stock: 5 });
      await fenceOf(keys, held); // someone holds its lock
      const heldBefore = JSON.stringify(
        await Promise.all(
          [keys.product(held), keys.buyers(held), keys.fence(held), keys.lock(held)].map((k) => ctx.redis.dump(k)),
        ),
      );
      const [ofHeld, ofUnknown, ofFree] = [held, unknown, free].map((p) => [order(p, 'u1', 1)]) as [
        OrderJob[],
        OrderJob[],
        OrderJob[],
      ];
      await recordAsAccepted(ctx.redis, keys, [...ofHeld, ...ofUnknown, ...ofFree]);
      const outcomes = await commitSections(
        ctx.redis,
        keys,
        [
          { productId: held, fence: 'claim', orders: ofHeld },
          { productId: unknown, fence: 'claim', orders: ofUnknown },
          { productId: free, fence: 'claim', orders: ofFree },
        ],
        RULES,
      );
      const sections = outcomes.kind === 'sections' ? outcomes.sections : [];
      assert.equal(sections[0]?.kind, 'lock_held');
      assert.equal(sections[1]?.kind, 'unknown_product');
      assert.ok(
        sections[2]?.kind === 'decided' &&
          sections[2].orders[0]?.kind === 'decided' &&
          sections[2].orders[0].decision.status === 'confirmed',
      );
      assert.equal(
        JSON.stringify(
          await Promise.all(
            [keys.product(held), keys.buyers(held), keys.fence(held), keys.lock(held)].map((k) => ctx.redis.dump(k)),
          ),
        ),
        heldBefore,
      );
      assert.equal(await ctx.redis.exists(keys.product(unknown)), 0);
      assert.equal((await getProduct(ctx.redis, keys, free))?.stock, 4);
    });

    it('refuses products of different groups before sending anything', async () => {
      const keys = uniqueKeys();
      let other = 'h0';
      for (let i = 1; keys.group(other) === keys.group('g0'); i++) other = `h${i}`;
      await assert.rejects(
        commitSections(
          ctx.redis,
          keys,
          [
            { productId: 'g0', fence: 'claim', orders: [order('g0', 'u', 1)] },
            { productId: other, fence: 'claim', orders: [order(other, 'u', 1)] },
          ],
          RULES,
        ),
        /must share a group/,
      );
    });

    it('in a batcher, a wave over many products takes about one commit per group, not one per product', async () => {
      const keys = uniqueKeys();
      const products = Array.from({ length: 300 }, (_, i) => `wide${i}`);
      for (const productId of products) await setProduct(ctx.redis, keys, productId, { stock: 1 });
      const batcher = new OrderBatcher({
        redis: ctx.redis,
        keys,
        locks: new ProductLocks(ctx.redis, keys, { ttlMs: 2000, maxWaitMs: 5000, retryMs: 5 }),
        rules: RULES,
        maxBatch: 64,
      });
      const orders = products.flatMap((productId) => [order(productId, 'a', 1), order(productId, 'b', 1)]);
      await recordAsAccepted(ctx.redis, keys, orders);
      const results = await Promise.all(orders.map((o) => batcher.decide(o)));
      assert.equal(
        results.filter((r) => r.decision.status === 'confirmed').length,
        300,
        'one unit of each product confirmed',
      );
      for (const productId of products.slice(0, 20))
        assert.equal((await getProduct(ctx.redis, keys, productId))?.stock, 0);
      const groups = new Set(products.map((p) => keys.group(p))).size;
      assert.ok(groups <= PRODUCT_GROUPS);
      // 600 orders in one wave: at most one commit per group, plus one per 64 orders of a group.
      assert.ok(
        batcher.stats.batches <= groups + Math.ceil(600 / 64),
        `600 orders over 300 products took ${batcher.stats.batches} commits`,
      );
      assert.equal(batcher.stats.orders, 600);
    });
  });
});
