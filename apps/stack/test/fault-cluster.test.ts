import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createKeys, partitionOfGroup } from '@flashline/core';
import {
  partitionKey,
  products,
  runScenario,
  startClusterSystem,
  useRedisCluster,
  type ClusterNode,
  type ClusterSystem,
  type ProductPlan,
  type RedisCluster,
  type ScenarioOptions,
  type ScenarioResult,
} from '@flashline/test-utils';

const PLAN = { products: products(10, 300), orders: 3000, seed: 12 };
// A failover takes the cluster's node timeout (2 s here) and more: a request keeps trying for ~10 s.
const TRIES = 10;
const DURABLE = { REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '300' };

/** The master serving a product's keys now, and the products of the plan it serves. */
async function masterOfProduct(cluster: RedisCluster, system: ClusterSystem, productId: string) {
  const keys = createKeys(system.prefix);
  const master = await cluster.nodeForSlot(cluster.slotOfKey(keys.product(productId)));
  const served: string[] = [];
  for (const { productId: id } of PLAN.products)
    if ((await cluster.nodeForSlot(cluster.slotOfKey(keys.product(id)))).id === master.id) served.push(id);
  return { master, served };
}

/** Resolves once `slot` is served by another master than `old` (its replica was promoted); the time it took. */
async function untilServedByAnother(cluster: RedisCluster, slot: number, old: ClusterNode): Promise<number> {
  const started = Date.now();
  for (const deadline = started + 20_000; Date.now() < deadline; await sleep(50)) {
    const owner = await cluster.nodeForSlot(slot).catch(() => undefined);
    if (owner && owner.id !== old.id) return Date.now() - started;
  }
  throw new Error(`slot ${slot} was not taken over within 20 s`);
}

/** What a fault hit and when (for `decisions_paused_ms`), and its own timings for the report. */
interface Seen {
  watch?: { productIds: string[]; from: number };
  times: Record<string, number>;
}

function report(t: TestContext, name: string, result: ScenarioResult, extra: Record<string, unknown>): void {
  t.diagnostic(`${name}: report ${JSON.stringify({ ...result.report, ...extra })}`);
}

/**
 * The fault tests on a real Redis Cluster (3 masters, 3 replicas, node timeout 2 s), one cluster for
 * the whole file: each scenario runs its own system (API and two workers) under its own key prefix,
 * and leaves the cluster healthy (a killed master restarted, as its successor's replica) for the next.
 */
describe('faults of a Redis Cluster under a burst', () => {
  const ctx = useRedisCluster({ nodeTimeoutMs: 2000 });
  let run = 0;
  const start = (env: Record<string, string>) => () =>
    startClusterSystem(ctx.cluster, {
      workers: 2,
      env: { KEY_PREFIX: `clf${++run}`, QUEUE_PARTITIONS: '8', WORKER_CONCURRENCY: '8', ...env },
    });

  /** One scenario on the shared cluster: the burst, `fault` beside it (which says what it hit, and when, in `seen`). */
  async function onCluster(
    env: Record<string, string>,
    fault: (system: ClusterSystem, seen: Seen) => Promise<void>,
    plan: Partial<Pick<ScenarioOptions<ClusterSystem>, 'products' | 'shop'>> = {},
  ) {
    const seen: Seen = { times: {} };
    const result = await runScenario({
      ...PLAN,
      ...plan,
      tries: TRIES,
      start: start(env),
      system: { workers: 2 },
      watch: () => seen.watch,
      fault: (system) => fault(system, seen),
    });
    return { result, times: seen.times };
  }

  /** kill -9 of the master serving sku-0, 100 ms into the burst; back as its successor's replica. */
  async function killMaster(system: ClusterSystem, seen: Seen): Promise<void> {
    const { cluster } = ctx;
    // Early in the burst: on an idle machine the whole burst can be over in about a second.
    await sleep(100);
    const { master, served } = await masterOfProduct(cluster, system, 'sku-0');
    const from = Date.now();
    seen.watch = { productIds: served, from };
    await cluster.kill(master);
    seen.times.promoted_after_ms = await untilServedByAnother(
      cluster,
      cluster.slotOfKey(createKeys(system.prefix).product('sku-0')),
      master,
    );
    // Back as the new master's replica: until then that master has none, and WAIT 1 cannot be met.
    await cluster.restart(master);
    await cluster.waitUntilHealthy();
    seen.times.healthy_after_ms = Date.now() - from;
  }

  it('kill -9 of a master mid-burst (REDIS_WAIT_REPLICAS=1): its replica takes over; nothing lost, doubled or stuck', async (t) => {
    // Stock for every order: once a product is sold out the API answers from its memory, with no Redis
    // call a failover could meet (a CI run's burst sold out and ended before the kill: retried 0).
    const { result, times } = await onCluster(DURABLE, killMaster, { products: products(10, 1000) });
    report(t, 'kill -9 master', result, times);
    assert.deepEqual(result.violations, {});
    assert.ok(result.report.retried > 0, 'no request met the failover');
    assert.ok(result.report.accepted > 1000, `only ${result.report.accepted} accepted`);
  });

  it('the same kill during a sale with one-second holds: holds expire, are paid and cancelled across the failover, each once', async (t) => {
    const { result, times } = await onCluster(DURABLE, killMaster, {
      products: PLAN.products.map((p) => ({ ...p, holdSeconds: 1 })),
      shop: { confirm: 0.4, cancel: 0.2, maxDelayMs: 1500, seed: 8 },
    });
    report(t, 'kill -9 master, holds', result, times);
    assert.deepEqual(result.violations, {});
    assert.ok((result.report.decided.expired ?? 0) > 0 && (result.report.decided.confirmed ?? 0) > 0);
  });

  /**
   * The master's replica frozen (SIGSTOP) so that it falls behind, the master killed, the replica
   * resumed and made master with CLUSTER FAILOVER TAKEOVER: whatever the master acknowledged while its
   * replica was frozen is gone.
   */
  async function lagThenTakeover(system: ClusterSystem, seen: Seen): Promise<void> {
    const { cluster } = ctx;
    await sleep(300);
    const { master, served } = await masterOfProduct(cluster, system, 'sku-0');
    const [replica] = await cluster.replicasOf(master);
    assert.ok(replica, 'the master has a replica');
    cluster.pause(replica);
    // 32 MB into the master's slot first: more than the sockets between it and its replica buffer, so that
    // what the master acknowledges during the freeze stays on the master (without it, a quiet burst can fit
    // whole in those buffers and reach the replica after all).
    await system.client.set(`${createKeys(system.prefix).product('sku-0')}:filler`, 'x'.repeat(32 * 1024 * 1024));
    await sleep(1500);
    const from = Date.now();
    seen.watch = { productIds: served, from };
    await cluster.kill(master);
    cluster.resume(replica);
    await cluster.failover(replica, 'takeover');
    seen.times.taken_over_after_ms = Date.now() - from;
    await cluster.restart(master);
    await cluster.waitUntilHealthy();
    seen.times.healthy_after_ms = Date.now() - from;
  }

  it('a failover to a lagging replica with REDIS_WAIT_REPLICAS=1: nothing acknowledged is lost (the frozen replica held every 202 back)', async (t) => {
    const { result, times } = await onCluster(DURABLE, lagThenTakeover);
    report(t, 'lagging replica, WAIT 1', result, times);
    assert.deepEqual(result.violations, {});
    assert.ok(result.report.retried > 0, 'no request was held back while the replica lagged');
    const refused = result.report.refused;
    assert.equal(
      Object.keys(refused).filter((answer) => !answer.startsWith('409 sold_out')).length,
      0,
      JSON.stringify(refused),
    );
  });

  it('negative control: the same failover with REDIS_WAIT_REPLICAS=0 loses acknowledged orders, and the checker says so', async (t) => {
    const { result, times } = await onCluster({ REDIS_WAIT_REPLICAS: '0' }, lagThenTakeover);
    report(t, 'lagging replica, WAIT 0', result, times);
    assert.ok(
      (result.violations.lost ?? 0) > 0,
      `the checker missed the lost orders: ${JSON.stringify(result.violations)}`,
    );
  });

  it('a live reshard mid-burst: the busiest partition and a hot product move to another master; nothing lost or doubled', async (t) => {
    const { cluster } = ctx;
    const { result, times } = await onCluster(DURABLE, async (system, seen) => {
      await sleep(800);
      const keys = createKeys(system.prefix);
      const { productId, partition } = busiestPartition(PLAN.products, system);
      const slots = [
        cluster.slotOfKey(keys.product(productId)),
        cluster.slotOfKey(partitionKey(system.config, partition, 'wait')),
      ];
      const owners = await Promise.all(slots.map((slot) => cluster.nodeForSlot(slot)));
      const target = (await cluster.masters()).find((m) => !owners.some((o) => o.id === m.id)) ?? owners[1]!;
      const moving = PLAN.products.filter((p) => keys.group(p.productId) === keys.group(productId));
      const from = Date.now();
      seen.watch = { productIds: moving.map((p) => p.productId), from };
      await cluster.moveSlots(slots, target);
      seen.times.moved_in_ms = Date.now() - from;
      seen.times.partition = partition;
    });
    report(t, 'live reshard', result, times);
    assert.deepEqual(result.violations, {});
  });

  it('a manual CLUSTER FAILOVER under load: nothing lost or doubled', async (t) => {
    const { cluster } = ctx;
    const { result, times } = await onCluster(DURABLE, async (system, seen) => {
      await sleep(800);
      const { master, served } = await masterOfProduct(cluster, system, 'sku-0');
      const [replica] = await cluster.replicasOf(master);
      assert.ok(replica, 'the master has a replica');
      const from = Date.now();
      seen.watch = { productIds: served, from };
      await cluster.failover(replica);
      seen.times.failed_over_in_ms = Date.now() - from;
    });
    report(t, 'manual failover', result, times);
    assert.deepEqual(result.violations, {});
  });
});

/** The partition holding the most of the plan's products, and one of its products. */
function busiestPartition(plan: ProductPlan[], system: ClusterSystem): { productId: string; partition: number } {
  const keys = createKeys(system.prefix);
  const byPartition = new Map<number, string[]>();
  for (const { productId } of plan) {
    const partition = partitionOfGroup(keys.group(productId), system.config.queuePartitions);
    byPartition.set(partition, [...(byPartition.get(partition) ?? []), productId]);
  }
  const [partition, ids] = [...byPartition].sort((a, b) => b[1].length - a[1].length)[0]!;
  return { productId: ids[0]!, partition };
}
