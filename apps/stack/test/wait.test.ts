import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { createKeys } from '@flashline/core';
import {
  SYSTEM_ADMIN_TOKEN,
  percentile,
  requestJson,
  startClusterSystem,
  startSystem,
  useRedisCluster,
  type BaseSystem,
  type ClusterNode,
  type JsonReply,
  type RedisCluster,
} from '@flashline/test-utils';

const admin = { authorization: `Bearer ${SYSTEM_ADMIN_TOKEN}` };
/** How soon after its decision (decidedAt) a waiting buyer must have the answer: far below a 1 s poll. */
const BOUND_MS = 500;
const WAIT_S = 20;

interface Answer {
  reply: JsonReply;
  at: number;
}

/**
 * Buyers wait on queued orders (no worker runs yet); then a worker starts and decides them: each
 * waiting request must answer within BOUND_MS of its order's decidedAt, long before its wait ends.
 * One order in ten is for a product deleted first, so the worker gives up on it (processing_failed):
 * the give-up paths announce their decisions too.
 */
async function waitThroughDecisions(system: BaseSystem, buyers: number): Promise<number[]> {
  for (const [productId, stock] of [
    ['tv', buyers],
    ['doomed', buyers],
  ] as const) {
    const put = await requestJson(`${system.apiUrl}/products/${productId}`, {
      method: 'PUT',
      headers: admin,
      body: { stock },
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
  }
  const order = async (productId: string, userId: string) => {
    const reply = await requestJson(`${system.apiUrl}/orders`, {
      method: 'POST',
      body: { productId, userId, quantity: 1 },
    });
    assert.equal(reply.status, 202, JSON.stringify(reply.body));
    return reply.body.orderId;
  };
  // Accepted together, so that most share jobs: a doomed order alone in its job fails the job for good (the
  // worker's `failed` path gives up on it), one beside others fails alone (the job's processor gives up on it).
  const orderIds = await Promise.all(
    Array.from({ length: buyers }, (_, i) =>
      i % 10 === 9 ? order('doomed', `unlucky${i}`) : order('tv', `buyer${i}`),
    ),
  );
  await system.client.del(createKeys(system.prefix).product('doomed'));
  const started = Date.now();
  const answers = Promise.all(
    orderIds.map(async (orderId): Promise<Answer> => {
      const reply = await requestJson(`${system.apiUrl}/orders/${orderId}?wait=${WAIT_S}`, {
        headers: admin,
        timeoutMs: (WAIT_S + 10) * 1000,
      });
      return { reply, at: Date.now() };
    }),
  );
  // The requests are in (they wait), then the worker comes.
  await sleep(500);
  await system.startWorker(0);
  const all = await answers;
  const lags = all.map(({ reply, at }) => {
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.notEqual(reply.body.status, 'queued', `answered queued after ${at - started} ms`);
    return at - Date.parse(reply.body.decidedAt!);
  });
  all.forEach(({ reply }, i) => {
    if (i % 10 === 9) assert.deepEqual([reply.body.status, reply.body.reason], ['rejected', 'processing_failed']);
  });
  assert.ok(
    lags.every((lag) => lag < BOUND_MS),
    `decision to answer: p50 ${percentile(lags, 50)} ms, max ${Math.max(...lags)} ms (bound ${BOUND_MS})`,
  );
  return lags;
}

describe('waiting buyers with the real processes', () => {
  let system: BaseSystem;
  before(async () => {
    system = await startSystem({ workers: 0, appendonly: false });
  });
  after(() => system?.stop());

  it(`answers every waiting buyer within ${BOUND_MS} ms of the worker's decision, on one Redis`, async (t) => {
    const lags = await waitThroughDecisions(system, 50);
    t.diagnostic(`decision to answer: p50 ${percentile(lags, 50)} ms, max ${Math.max(...lags)} ms`);
  });
});

/**
 * The same on a Redis Cluster (3 masters, 3 replicas, 4 partitions): the worker PUBLISHes on whichever
 * node its client picks, the API process is subscribed on another, and the cluster bus carries the message.
 */
describe('waiting buyers on a Redis Cluster', () => {
  const ctx = useRedisCluster({ nodeTimeoutMs: 2000 });
  let system: BaseSystem | undefined;
  after(() => system?.stop());

  it(`answers every waiting buyer within ${BOUND_MS} ms of the decision, through the cluster bus`, async (t) => {
    system = await startClusterSystem(ctx.cluster, {
      workers: 0,
      env: { KEY_PREFIX: 'wait', QUEUE_PARTITIONS: '4' },
    });
    const lags = await waitThroughDecisions(system, 30);
    t.diagnostic(`decision to answer: p50 ${percentile(lags, 50)} ms, max ${Math.max(...lags)} ms`);
  });

  it("answers a waiting buyer after the node holding the API process's subscription is killed", async () => {
    assert.ok(system, 'the system of the test above');
    await system.stopWorker(0);
    const put = await requestJson(`${system.apiUrl}/products/solo`, {
      method: 'PUT',
      headers: admin,
      body: { stock: 1 },
    });
    assert.equal(put.status, 200);
    const order = await requestJson(`${system.apiUrl}/orders`, {
      method: 'POST',
      body: { productId: 'solo', userId: 'carol', quantity: 1 },
    });
    assert.equal(order.status, 202, JSON.stringify(order.body));
    const answer = requestJson(`${system.apiUrl}/orders/${order.body.orderId}?wait=25`, { timeoutMs: 40_000 }).then(
      (reply) => ({ reply, at: Date.now() }),
    );
    await sleep(300);
    const node = await subscriberNode(ctx.cluster);
    await ctx.cluster.kill(node);
    try {
      await system.startWorker(0);
      const { reply, at } = await answer;
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      assert.equal(reply.body.status, 'confirmed', JSON.stringify(reply.body));
      const lag = at - Date.parse(reply.body.decidedAt!);
      assert.ok(
        lag < 3000,
        `answered ${lag} ms after the decision (the ${node.role} holding the subscription was killed)`,
      );
    } finally {
      await ctx.cluster.restart(node);
      await ctx.cluster.waitUntilHealthy();
    }
  });
});

/** The cluster node the API process's subscriber connection is on (CLIENT LIST of each node). */
async function subscriberNode(cluster: RedisCluster): Promise<ClusterNode> {
  for (const node of cluster.nodes) {
    const client = new Redis({ host: node.host, port: node.port, lazyConnect: true, maxRetriesPerRequest: 1 });
    client.on('error', () => {});
    try {
      await client.connect();
      if (/name=flashline-subscriber /.test(String(await client.call('CLIENT', 'LIST')))) return node;
    } catch {
      // A node down: not the subscriber's.
    } finally {
      client.disconnect();
    }
  }
  return assert.fail("no node holds the API process's subscription");
}
