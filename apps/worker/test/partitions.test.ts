import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, Worker } from 'bullmq';
import {
  connectRedis,
  createKeys,
  createOrdersQueues,
  getOrder,
  loadConfig,
  partitionOfGroup,
  partitionQueue,
  webhookPartitionQueue,
  setProduct,
} from '@flashline/core';
import {
  acceptOrThrow,
  freePort,
  requestJson,
  startApp,
  testAcceptor,
  useRedisServer,
  type AppProcess,
} from '@flashline/test-utils';

/** The first product ids (`p0`, `p1`, ...) of each partition of `partitions`. */
function productsByPartition(keys: ReturnType<typeof createKeys>, partitions: number, each: number): string[][] {
  const found: string[][] = Array.from({ length: partitions }, () => []);
  for (let i = 0; found.some((list) => list.length < each); i++) {
    const list = found[partitionOfGroup(keys.group(`p${i}`), partitions)]!;
    if (list.length < each) list.push(`p${i}`);
  }
  return found;
}

describe('a partition no worker serves (WORKER_PARTITIONS leaving it out)', () => {
  const ctx = useRedisServer();

  it('is flagged by the worker’s /readyz and the reconciler’s log, and served once a worker takes it', async () => {
    const prefix = 'unserved';
    const env = {
      REDIS_URL: ctx.server.url,
      KEY_PREFIX: prefix,
      QUEUE_PARTITIONS: '2',
      RECONCILE_INTERVAL_MS: '200',
      RECONCILE_AFTER_MS: '1000',
      JOB_LOCK_MS: '2000',
      SHUTDOWN_TIMEOUT_MS: '2000',
    };
    const config = loadConfig(env);
    const keys = createKeys(prefix);
    const redis = connectRedis(config, 'worker');
    const queues = createOrdersQueues(config, redis);
    const port = await freePort();
    const processes: AppProcess[] = [];
    try {
      const onlyZero = startApp('apps/worker/src/main.ts', {
        ...env,
        WORKER_PARTITIONS: '0',
        WORKER_HEALTH_PORT: String(port),
      });
      processes.push(onlyZero);
      await onlyZero.waitForLog(/worker ready/, 30_000);
      const readyz = () => requestJson(`http://127.0.0.1:${port}/readyz`);
      assert.deepEqual((await readyz()).body, { status: 'ready' }, 'not ready with nothing waiting');

      // 16 orders, 8 on products of each partition: partition 1's wait for a worker.
      const [zero, one] = productsByPartition(keys, 2, 2) as [string[], string[]];
      for (const productId of [...zero, ...one]) await setProduct(redis, keys, productId, { stock: 100 });
      const acceptor = testAcceptor({ redis, keys, queues });
      const placed = await Promise.all(
        Array.from({ length: 16 }, (_, i) =>
          acceptOrThrow(acceptor, { productId: [...zero, ...one][i % 4]!, userId: `u${i}`, quantity: 1 }),
        ),
      );

      const warning = await onlyZero.waitForLog(/partitions have waiting work and no worker/, 5000);
      assert.deepEqual(
        (warning.unserved as { partition: number }[]).map((p) => p.partition),
        [1],
        'the reconciler named another partition',
      );
      await sleep(1100); // the last answer stands a second
      const notReady = await readyz();
      assert.equal(notReady.status, 503);
      const body = notReady.body as unknown as {
        error: { code: string; message: string };
        unserved: { partition: number }[];
      };
      assert.equal(body.error.code, 'unavailable');
      assert.match(body.error.message, /partition 1 \(\d+ jobs waiting\)/);
      assert.deepEqual(
        body.unserved.map((p) => p.partition),
        [1],
      );

      // A worker for partition 1 decides its orders, and the flag clears.
      const onlyOne = startApp('apps/worker/src/main.ts', { ...env, WORKER_PARTITIONS: '1' });
      processes.push(onlyOne);
      await onlyOne.waitForLog(/worker ready/, 30_000);
      const deadline = Date.now() + 10_000;
      const statuses = async () =>
        Promise.all(placed.map(async ({ orderId }) => (await getOrder(redis, keys, orderId))?.status));
      while ((await statuses()).some((status) => status === 'queued') && Date.now() < deadline) await sleep(50);
      assert.deepEqual(await statuses(), Array(16).fill('confirmed'));
      await sleep(1100);
      assert.deepEqual((await readyz()).body, { status: 'ready' });
    } finally {
      await Promise.all(processes.map((process) => process.stop()));
      await queues.close();
      redis.disconnect();
    }
  });

  it('refuses to start while a partition above QUEUE_PARTITIONS holds unfinished jobs, and cleans the finished ones', async () => {
    const prefix = 'retired';
    const before = loadConfig({ REDIS_URL: ctx.server.url, KEY_PREFIX: prefix, QUEUE_PARTITIONS: '4' });
    const redis = connectRedis(before, 'worker');
    // What QUEUE_PARTITIONS=4 left behind: a webhook delivery waiting in partition 3, a failed order job in 2.
    const webhooks = new Queue(webhookPartitionQueue(before, 3).name, {
      connection: redis,
      prefix: webhookPartitionQueue(before, 3).prefix,
    });
    const orders2 = partitionQueue(before, 2);
    const orders = new Queue(orders2.name, { connection: redis, prefix: orders2.prefix });
    const failing = new Worker(orders2.name, () => Promise.reject(new Error('boom')), {
      connection: redis,
      prefix: orders2.prefix,
    });
    const env = {
      REDIS_URL: ctx.server.url,
      KEY_PREFIX: prefix,
      QUEUE_PARTITIONS: '1',
      ORDER_RETENTION_S: '1',
      IDEMPOTENCY_TTL_S: '1',
      RECONCILE_INTERVAL_MS: '200',
      SHUTDOWN_TIMEOUT_MS: '2000',
    };
    let worker: AppProcess | undefined;
    try {
      await webhooks.add('order.confirmed', { event: 'o1.1' }, { jobId: 'o1.1' });
      const failed = await orders.add('order', { orderId: 'o2', productId: 'p', userId: 'buyer-2', quantity: 1 });
      while ((await orders.getJobState(failed.id!)) !== 'failed') await sleep(20);
      await failing.close();

      worker = startApp('apps/worker/src/main.ts', env);
      const refusal = await worker.waitForLog(/failed to start/, 30_000);
      assert.match(JSON.stringify(refusal.error), /partition 3 \(1 unfinished in webhooks-3\)/);
      assert.match(JSON.stringify(refusal), /QUEUE_PARTITIONS=4/);
      assert.equal(await worker.stop(), 1);

      // Delivered (here: removed): the start goes on, and the failed job naming a buyer goes at its age.
      await webhooks.obliterate({ force: true });
      worker = startApp('apps/worker/src/main.ts', env);
      await worker.waitForLog(/worker ready/, 30_000);
      const deadline = Date.now() + 5000;
      while ((await orders.getJob(failed.id!)) && Date.now() < deadline) await sleep(100);
      assert.equal(await orders.getJob(failed.id!), undefined, 'the failed job of partition 2 was never removed');
    } finally {
      await worker?.stop();
      await failing.close();
      await Promise.all([webhooks.close(), orders.close()]);
      redis.disconnect();
    }
  });
});
