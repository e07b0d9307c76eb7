import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRedis, testAcceptor, type TestRedis } from '@flashline/test-utils';
import {
  AppError,
  commitSections,
  connectRedis,
  createOrdersQueue,
  getOrder,
  loadConfig,
  setProduct,
  type RedisClient,
} from '../src/index.ts';
import { uniqueKeys } from './helpers.ts';

const REPLICATION = { replicas: 1, timeoutMs: 200 };

/**
 * REDIS_WAIT_REPLICAS on a master with one real replica. A paused replica (SIGSTOP) receives nothing:
 * with the setting, an accept or a commit must then fail as `unavailable` (a 503, a retried job)
 * instead of promising what only the master holds; without it, the same accept is answered at once
 * (the negative control: what a failover would lose).
 */
describe('REDIS_WAIT_REPLICAS: nothing promised before a replica holds it', () => {
  let master: TestRedis;
  let replica: TestRedis;
  let redis: RedisClient;
  before(async () => {
    master = await startRedis();
    replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
    redis = connectRedis({ redisUrl: master.url, redisTimeoutMs: 2000 }, 'worker');
    for (;;) {
      const role = (await replica.client.call('ROLE')) as [string, string, number, string];
      if (role[3] === 'connected') break;
      await sleep(50);
    }
  });
  after(async () => {
    replica?.resume();
    redis?.disconnect();
    await replica?.stop();
    await master?.stop();
  });

  function setup(replication?: typeof REPLICATION) {
    const keys = uniqueKeys();
    const queue = createOrdersQueue(loadConfig({ KEY_PREFIX: keys.prefix }), redis);
    const acceptor = testAcceptor({ redis, keys, queue }, replication ? { replication } : {});
    return { keys, queue, acceptor };
  }

  it('accepts once the replica holds the order; with the replica paused, answers unavailable, and the keyed retry gets the same order', async () => {
    const { keys, queue, acceptor } = setup(REPLICATION);
    await setProduct(redis, keys, 'p', { stock: 10 });
    const first = await acceptor.accept({ productId: 'p', userId: 'u1', quantity: 1 }, 'k1');
    assert.equal(first.kind, 'accepted');
    // The replica has it already: WAIT returned only after it acknowledged.
    const onReplica = await replica.client.hget(keys.order('p', (first as { orderId: string }).orderId), 'status');
    assert.equal(onReplica, 'queued');

    replica.pause();
    const started = Date.now();
    await assert.rejects(
      acceptor.accept({ productId: 'p', userId: 'u2', quantity: 1 }, 'k2'),
      (error: unknown) => error instanceof AppError && error.code === 'unavailable',
    );
    assert.ok(Date.now() - started < 1000, `the refusal took ${Date.now() - started} ms`);
    replica.resume();
    const retried = await acceptor.accept({ productId: 'p', userId: 'u2', quantity: 1 }, 'k2');
    assert.equal(retried.kind, 'accepted');
    // Recorded by the first try (only its answer waited): the retry found it, and there is one order.
    const pending = await redis.zrange(keys.pending('p'), 0, -1);
    assert.equal(pending.length, 2);
    await queue.close();
  });

  it('negative control: without the setting, the paused replica does not stop a 202', async () => {
    const { keys, queue, acceptor } = setup();
    await setProduct(redis, keys, 'p', { stock: 10 });
    replica.pause();
    try {
      const outcome = await acceptor.accept({ productId: 'p', userId: 'u1', quantity: 1 }, 'k1');
      assert.equal(outcome.kind, 'accepted');
      const orderId = (outcome as { orderId: string }).orderId;
      // Promised, and held by the master alone.
      assert.equal((await getOrder(redis, keys, orderId))?.status, 'queued');
    } finally {
      replica.resume();
    }
    await queue.close();
  });

  it('a commit returns once the replica holds it; with the replica paused it fails unavailable, and the replay decides nothing twice', async () => {
    const { keys, queue, acceptor } = setup();
    await setProduct(redis, keys, 'p', { stock: 10 });
    const accepted = await acceptor.accept({ productId: 'p', userId: 'u1', quantity: 2 });
    assert.equal(accepted.kind, 'accepted');
    const order = { orderId: (accepted as { orderId: string }).orderId, productId: 'p', userId: 'u1', quantity: 2 };
    const rules = { maxQuantity: 10, orderRetentionMs: 60_000, replication: REPLICATION };
    const commit = () => commitSections(redis, keys, [{ productId: 'p', orders: [order], fence: 'claim' }], rules);

    replica.pause();
    await assert.rejects(commit(), (error: unknown) => error instanceof AppError && error.code === 'unavailable');
    replica.resume();
    const replay = await commit();
    assert.equal(replay.kind, 'sections');
    assert.equal(await replica.client.hget(keys.order('p', order.orderId), 'status'), 'confirmed');
    assert.equal(await replica.client.hget(keys.product('p'), 'stock'), '8', 'the units were taken once');
    await queue.close();
  });
});
