import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Queue } from 'bullmq';
import { manyEvents, useRedisCluster, writeOutboxEvents } from '@flashline/test-utils';
import {
  PRODUCT_GROUPS,
  connectRedis,
  createKeys,
  createWebhookQueues,
  loadConfig,
  partitionOfGroup,
  relayOnce,
  startRelay,
  waitUntilReady,
  type Keys,
  type RedisClient,
  type WebhookJob,
  type WebhookQueue,
} from '../src/index.ts';
import { useClients } from './helpers.ts';

const PARTITIONS = 4;
let prefixes = 0;

/** A test's own prefix, its webhooks queues (QUEUE_PARTITIONS=4) on `redis`, and a relay's dependencies. */
function setUp(redis: RedisClient, env: Record<string, string> = {}) {
  const prefix = `wr${process.pid}x${++prefixes}`;
  const config = loadConfig({ KEY_PREFIX: prefix, QUEUE_PARTITIONS: String(PARTITIONS), ...env });
  const keys = createKeys(prefix);
  const queues = createWebhookQueues(config, { backoffBaseMs: 1000 }, redis);
  return { keys, queues, deps: { redis, keys, queues, batch: 50, backlogMax: 100_000, inFlightMax: 10_000 } };
}

/** Every job id of every partition's queue, with its partition. */
async function jobsByPartition(queues: readonly Queue<WebhookJob>[]): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  for (const [partition, queue] of queues.entries()) {
    for (const job of await queue.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed'], 0, -1)) {
      assert.ok(!found.has(job.id!), `job ${job.id} is in two partitions`);
      found.set(job.id!, partition);
    }
  }
  return found;
}

async function outboxLength(redis: RedisClient, keys: Keys): Promise<number> {
  let total = 0;
  for (let group = 0; group < PRODUCT_GROUPS; group++) total += await redis.xlen(keys.outbox(group));
  return total;
}

/** Entries not yet in a webhooks queue: in the outbox streams or in the partitions' backlogs. */
async function waitingLength(redis: RedisClient, keys: Keys): Promise<number> {
  let total = await outboxLength(redis, keys);
  for (let partition = 0; partition < PARTITIONS; partition++)
    total += await redis.xlen(keys.webhookBacklog(partition));
  return total;
}

/** Relays every partition until nothing is left; the entries moved in all. */
async function drain(deps: Parameters<typeof relayOnce>[0]): Promise<number> {
  let moved = 0;
  for (let partition = 0; partition < PARTITIONS; partition++)
    for (let step; (step = await relayOnce(deps, partition)) > 0;) moved += step;
  return moved;
}

describe('webhook relay: outbox streams into the webhooks queue', () => {
  const ctx = useClients();

  it("moves each entry once, into its product's partition, job id = event id, and empties the outbox", async () => {
    const redis = ctx.client();
    const { keys, queues, deps } = setUp(redis);
    const events = manyEvents(2000);
    const ids = await writeOutboxEvents(redis, keys, events);
    assert.equal(await drain(deps), 2000);
    assert.equal(await drain(deps), 0, 'a second pass moved something again');
    assert.equal(await outboxLength(redis, keys), 0);
    const jobs = await jobsByPartition(queues);
    assert.equal(jobs.size, 2000);
    for (const [i, id] of ids.entries())
      assert.equal(jobs.get(id), partitionOfGroup(keys.group(events[i]!.productId), PARTITIONS), id);
    const job = await queues[jobs.get(ids[0]!)!]!.getJob(ids[0]!);
    assert.deepEqual(job?.data, {
      event: ids[0],
      type: 'order.confirmed',
      at: String(events[0]!.at),
      order: {
        productId: 'p0',
        userId: 'buyer0',
        quantity: '1',
        status: 'confirmed',
        createdAt: String(events[0]!.at - 5),
        decidedAt: String(events[0]!.at),
        seq: '1',
      },
    });
    assert.equal(job?.opts.attempts, 36, 'the default base does not span 24 hours of retries');
  });

  it('keeps every entry when the add fails (a crash before it answers), and relays them later', async () => {
    const redis = ctx.client();
    const { keys, queues, deps } = setUp(redis);
    const ids = await writeOutboxEvents(redis, keys, manyEvents(300));
    const crashing = queues.map((queue): WebhookQueue => ({
      addBulk: () => Promise.reject(new Error('the worker died before the add answered')),
      getJobCounts: (...types) => queue.getJobCounts(...types),
    }));
    for (let partition = 0; partition < PARTITIONS; partition++)
      await assert.rejects(relayOnce({ ...deps, queues: crashing }, partition));
    assert.equal(await waitingLength(redis, keys), 300, 'entries were deleted although their jobs were never added');
    assert.equal(await drain(deps), 300);
    assert.deepEqual([...(await jobsByPartition(queues)).keys()].sort(), [...ids].sort(), 'an event was lost');
  });

  it('a crash between the add and the delete re-adds the same ids: no job twice, the outbox emptied', async () => {
    const redis = ctx.client();
    const { keys, queues, deps } = setUp(redis);
    const ids = await writeOutboxEvents(redis, keys, manyEvents(300));
    const addedThenCrashed = queues.map((queue): WebhookQueue => ({
      addBulk: async (jobs) => {
        await queue.addBulk(jobs);
        throw new Error('the worker died after the add, before the delete');
      },
      getJobCounts: (...types) => queue.getJobCounts(...types),
    }));
    for (let partition = 0; partition < PARTITIONS; partition++)
      await assert.rejects(relayOnce({ ...deps, queues: addedThenCrashed }, partition));
    assert.equal(await waitingLength(redis, keys), 300);
    assert.equal(await drain(deps), 300, 'the entries were read again');
    assert.equal(await waitingLength(redis, keys), 0);
    const jobs = await jobsByPartition(queues);
    assert.equal(jobs.size, 300, 'a re-added event made a second job');
    assert.deepEqual([...jobs.keys()].sort(), [...ids].sort());
  });

  it('turns an entry without an event id into a failing job of its own, and relays the rest', async () => {
    const redis = ctx.client();
    const { keys, queues, deps } = setUp(redis);
    const ids = await writeOutboxEvents(redis, keys, manyEvents(10, 1));
    await redis.xadd(keys.outbox(keys.group('p0')), '*', 'type', 'order.confirmed', 'event', 'bad:id', 'at', '1');
    assert.equal(await drain(deps), 11);
    const jobs = [...(await jobsByPartition(queues)).keys()];
    assert.equal(jobs.length, 11);
    for (const id of ids) assert.ok(jobs.includes(id), id);
    assert.equal(jobs.filter((id) => id.startsWith('malformed-')).length, 1);
  });

  it('several workers: one relay per partition at a time, each entry moved once, idle reads not multiplied', async () => {
    const { keys, queues } = setUp(ctx.client());
    const writer = ctx.client();
    let moved = 0;
    const relays = [0, 1, 2].map(() => {
      const redis = ctx.client();
      return startRelay({
        redis,
        keys,
        queues: createWebhookQueues(
          loadConfig({ KEY_PREFIX: keys.prefix, QUEUE_PARTITIONS: '4' }),
          { backoffBaseMs: 1000 },
          redis,
        ),
        batch: 20,
        backlogMax: 100_000,
        inFlightMax: 10_000,
        partitions: [0, 1, 2, 3],
        leaseMs: 1000,
        idleMs: 50,
        onRelayed: (count) => (moved += count),
        onError: (error) => assert.fail(String(error)),
      });
    });
    const events = manyEvents(3000);
    // Written while the relays run, in waves.
    for (let i = 0; i < events.length; i += 250) {
      await writeOutboxEvents(writer, keys, events.slice(i, i + 250));
      await sleep(20);
    }
    for (let i = 0; i < 200 && (await outboxLength(writer, keys)) > 0; i++) await sleep(50);
    assert.equal(await outboxLength(writer, keys), 0);
    await sleep(200);
    assert.equal(moved, 3000, 'an entry was moved more than once (or not at all)');
    assert.equal((await jobsByPartition(queues)).size, 3000);

    // Idle: the lease holders read every 50 ms, one XREAD per partition (single Redis); the two
    // other workers only try the leases. A read per worker would be three times as many.
    const reads = async () => Number(/cmdstat_xread:calls=(\d+)/.exec(await writer.info('commandstats'))?.[1] ?? 0);
    const before = await reads();
    await sleep(1000);
    const perSecond = (await reads()) - before;
    assert.ok(perSecond <= PARTITIONS * 22, `idle relays read ${perSecond} times a second`);
    assert.ok(perSecond >= PARTITIONS * 5, `idle relays read only ${perSecond} times a second`);

    await Promise.all(relays.map((relay) => relay.stop()));
    for (let p = 0; p < PARTITIONS; p++) assert.equal(await writer.exists(keys.webhookRelay(p)), 0, 'a lease was kept');
  });
});

describe('webhook relay on a Redis Cluster', () => {
  const clients: RedisClient[] = [];
  const ctx = useRedisCluster({ beforeStop: () => clients.forEach((client) => client.disconnect()) });

  it("reads each group's stream in its own slot and moves every entry once", async () => {
    const config = loadConfig({ REDIS_CLUSTER_NODES: ctx.cluster.seedNodes, KEY_PREFIX: 'wrc', QUEUE_PARTITIONS: '4' });
    const redis = connectRedis(config, 'worker');
    clients.push(redis);
    await waitUntilReady(redis, 10_000);
    const keys = createKeys('wrc');
    const queues = createWebhookQueues(config, { backoffBaseMs: 1000 }, redis);
    const ids = await writeOutboxEvents(redis, keys, manyEvents(1000, 64));
    assert.equal(await drain({ redis, keys, queues, batch: 100, backlogMax: 100_000, inFlightMax: 10_000 }), 1000);
    assert.equal(await outboxLength(redis, keys), 0);
    assert.deepEqual([...(await jobsByPartition(queues)).keys()].sort(), [...ids].sort());
    await Promise.all(queues.map((queue) => queue.close()));
  });
});
