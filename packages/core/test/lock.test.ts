import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError, ProductLocks, setProduct } from '../src/index.ts';
import { commitOrder, uniqueKeys, useClients } from './helpers.ts';

describe('product lock', () => {
  const ctx = useClients();
  const { client } = ctx;

  it('admits one holder at a time under contention', async () => {
    const keys = uniqueKeys();
    const settings = { ttlMs: 2000, maxWaitMs: 10_000, retryMs: 2 };
    // Separate connections, as separate worker processes would have.
    const lockers = Array.from({ length: 4 }, () => new ProductLocks(client(), keys, settings));
    let inside = 0;
    let mostInside = 0;
    let entries = 0;
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        lockers[i % lockers.length]!.using('hot', async () => {
          inside += 1;
          entries += 1;
          mostInside = Math.max(mostInside, inside);
          await sleep(2);
          inside -= 1;
        }),
      ),
    );
    assert.equal(entries, 40);
    assert.equal(mostInside, 1, 'two holders were inside the critical section at once');
    assert.equal(await ctx.server.client.exists(keys.lock('hot')), 0, 'lock left behind');
  });

  it('releases early on request, behind the commands already sent, and only once', async () => {
    const keys = uniqueKeys();
    const redis = client();
    const locks = new ProductLocks(redis, keys, { ttlMs: 5000, maxWaitMs: 0, retryMs: 1 });
    const other = new ProductLocks(client(), keys, { ttlMs: 5000, maxWaitMs: 0, retryMs: 1 });
    let releases = 0;
    const original = locks.release.bind(locks);
    locks.release = (productId, token) => ((releases += 1), original(productId, token));
    await locks.using('p', async (lease) => {
      const sent = redis.get(keys.lock('p')); // a command already on its way: it still sees the lock
      void lease.release();
      assert.equal(await sent, lease.token);
      assert.equal(await redis.get(keys.lock('p')), null, 'the lock was not released early');
      // Another holder may take it while the routine finishes.
      const { token } = await other.acquire('p');
      await other.release('p', token);
    });
    assert.equal(releases, 1, 'released more than once');
  });

  it('hands out fencing tokens that only grow', async () => {
    const keys = uniqueKeys();
    const locks = new ProductLocks(client(), keys, { ttlMs: 1000, maxWaitMs: 1000, retryMs: 2 });
    const fences: number[] = [];
    for (let i = 0; i < 5; i++) {
      const { token, fence } = await locks.acquire('p');
      fences.push(fence);
      await locks.release('p', token);
    }
    assert.deepEqual(fences, [1, 2, 3, 4, 5]);
  });

  it('lets only the owner release', async () => {
    const keys = uniqueKeys();
    const locks = new ProductLocks(client(), keys, { ttlMs: 5000, maxWaitMs: 0, retryMs: 2 });
    const { token } = await locks.acquire('p');
    assert.equal(await locks.release('p', 'not-the-token'), false);
    assert.equal(await ctx.server.client.get(keys.lock('p')), token, 'a stranger deleted the lock');
    await assert.rejects(locks.acquire('p'), (e: unknown) => e instanceof AppError && e.code === 'lock_unavailable');
    assert.equal(await locks.release('p', token), true);
    assert.equal(await ctx.server.client.exists(keys.lock('p')), 0);
  });

  it('gives up after the bounded wait', async () => {
    const keys = uniqueKeys();
    const locks = new ProductLocks(client(), keys, { ttlMs: 5000, maxWaitMs: 150, retryMs: 5 });
    await locks.acquire('p');
    const started = Date.now();
    await assert.rejects(locks.acquire('p'), (e: unknown) => e instanceof AppError && e.code === 'lock_unavailable');
    const waited = Date.now() - started;
    assert.ok(waited >= 140 && waited < 1000, `waited ${waited} ms`);
  });

  it('extends the lease while the work runs', async () => {
    const keys = uniqueKeys();
    const locks = new ProductLocks(client(), keys, { ttlMs: 300, maxWaitMs: 0, retryMs: 2 });
    const rival = new ProductLocks(client(), keys, { ttlMs: 300, maxWaitMs: 0, retryMs: 2 });
    const result = await locks.using('p', async (lease) => {
      // Three leases long: without the watchdog the lock would expire and the rival get in.
      for (let i = 0; i < 9; i++) {
        await sleep(100);
        await assert.rejects(
          rival.acquire('p'),
          (e: unknown) => e instanceof AppError && e.code === 'lock_unavailable',
        );
      }
      assert.equal(lease.signal.aborted, false);
      return 'done';
    });
    assert.equal(result, 'done');
    assert.equal(await ctx.server.client.exists(keys.lock('p')), 0, 'using did not release');
  });

  it('aborts the work when the lease is lost', async () => {
    const keys = uniqueKeys();
    const locks = new ProductLocks(client(), keys, { ttlMs: 300, maxWaitMs: 0, retryMs: 2 });
    await locks.using('p', async (lease) => {
      await ctx.server.client.set(keys.lock('p'), 'someone-else');
      await sleep(250);
      assert.equal(lease.signal.aborted, true, 'lease loss not signalled');
      assert.ok(lease.signal.reason instanceof AppError && lease.signal.reason.code === 'lease_lost');
    });
    assert.equal(await ctx.server.client.get(keys.lock('p')), 'someone-else', 'released a lock that was not ours');
  });

  it('returns the same fencing token when an acquire is re-sent after a lost reply', async () => {
    const keys = uniqueKeys();
    const redis = client();
    const first = await redis.acquireLock([keys.lock('p'), keys.fence('p'), 'tok', 1000]);
    const again = await redis.acquireLock([keys.lock('p'), keys.fence('p'), 'tok', 1000]);
    assert.equal(first, 1);
    assert.equal(again, 1);
    assert.equal(await redis.acquireLock([keys.lock('p'), keys.fence('p'), 'other', 1000]), -1);
  });

  it('refuses the commit of a holder whose lease expired (fencing)', async () => {
    const keys = uniqueKeys();
    const redis = client();
    await setProduct(redis, keys, 'p', { stock: 10 });
    const locks = new ProductLocks(redis, keys, { ttlMs: 100, maxWaitMs: 2000, retryMs: 5 });
    const stale = await locks.acquire('p'); // no watchdog: this holder "pauses" past its lease
    await sleep(150);
    const fresh = await locks.acquire('p');
    assert.ok(fresh.fence > stale.fence);

    const order = { orderId: 'p.aaaaaaaaaaaaaaaa', productId: 'p', userId: 'u1', quantity: 3 };
    await assert.rejects(
      commitOrder(redis, keys, order, stale.fence, { maxQuantity: 10, orderRetentionMs: 60_000 }),
      (e: unknown) => e instanceof AppError && e.code === 'lease_lost',
    );
    assert.equal(await redis.hget(keys.product('p'), 'stock'), '10', 'a stale holder changed stock');
    assert.equal(await redis.hget(keys.order('p', order.orderId), 'status'), 'queued', 'a stale holder decided');

    const { decision } = await commitOrder(redis, keys, order, fresh.fence, {
      maxQuantity: 10,
      orderRetentionMs: 60_000,
    });
    assert.deepEqual(decision, { status: 'confirmed' });
    assert.equal(await redis.hget(keys.product('p'), 'stock'), '7');
  });
});
