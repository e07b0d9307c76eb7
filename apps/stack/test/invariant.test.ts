import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  freePort,
  percentile,
  requestJson,
  scanKeys,
  startApp,
  startRedis,
  startRedisCluster,
  submitOrders,
  waitUntilDecided,
  type AppProcess,
  type OrderSpec,
} from '@flashline/test-utils';
import { connectRedis, createKeys, loadConfig, waitUntilReady, type RedisClient } from '@flashline/core';

const PRODUCTS = 20;
const UNITS = 50;
const ORDERS = 5000;
const USERS = 500;
const PER_USER_LIMIT = 4; // on even products; odd products have no limit
const ADMIN_TOKEN = 'invariant-admin-token-0123';
const PREFIX = 'inv';

/** A small seeded generator, so a failing run can be replayed exactly. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Where the sale runs: one redis-server, or a real Redis Cluster of 3 masters and 3 replicas (16 partitions). */
async function startStore(
  onCluster: boolean,
): Promise<{ env: Record<string, string>; client: RedisClient; stop: () => Promise<void> }> {
  if (!onCluster) {
    const redis = await startRedis();
    return { env: { REDIS_URL: redis.url }, client: redis.client, stop: () => redis.stop() };
  }
  const cluster = await startRedisCluster();
  const env = { REDIS_CLUSTER_NODES: cluster.seedNodes };
  const client = connectRedis(loadConfig(env), 'worker');
  await waitUntilReady(client, 10_000);
  return {
    env,
    client,
    stop: async () => {
      client.disconnect();
      await cluster.stop();
    },
  };
}
for (const where of ['one Redis', 'a Redis Cluster'])
  describe(`the invariant, end to end through the real API and worker processes, on ${where}`, () => {
    let redis: RedisClient;
    let stopStore: () => Promise<void>;
    let apiUrl: string;
    const processes: AppProcess[] = [];

    before(async () => {
      const store = await startStore(where === 'a Redis Cluster');
      [redis, stopStore] = [store.client, store.stop];
      const port = await freePort();
      apiUrl = `http://127.0.0.1:${port}`;
      const env = {
        ...store.env,
        KEY_PREFIX: PREFIX,
        ADMIN_TOKEN,
        PORT: String(port),
        WORKER_CONCURRENCY: '16',
        RATE_LIMIT_PER_IP: '0',
        RATE_LIMIT_PER_USER: '0',
      };
      const api = startApp('apps/api/src/main.ts', env);
      const workers = [startApp('apps/worker/src/main.ts', env), startApp('apps/worker/src/main.ts', env)];
      processes.push(api, ...workers);
      await Promise.all([api.waitForLog(/api listening/), ...workers.map((w) => w.waitForLog(/worker ready/))]);
    });

    after(async () => {
      const codes = await Promise.all(processes.map((p) => p.stop('SIGTERM')));
      await stopStore();
      assert.deepEqual(
        codes,
        codes.map(() => 0),
        'a process did not shut down cleanly',
      );
    });

    it(`${PRODUCTS} products × ${UNITS} units, ${ORDERS} orders from ${USERS} users: exactly the stock is sold`, async (t) => {
      const productIds = Array.from({ length: PRODUCTS }, (_, i) => `sku-${i}`);
      for (const [i, productId] of productIds.entries()) {
        const reply = await requestJson(`${apiUrl}/products/${productId}`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
          body: { stock: UNITS, ...(i % 2 === 0 ? { perUserLimit: PER_USER_LIMIT } : {}) },
        });
        assert.equal(reply.status, 200);
      }
      const next = random(20261122);
      const orders: OrderSpec[] = Array.from({ length: ORDERS }, () => ({
        productId: productIds[Math.floor(next() * PRODUCTS)]!,
        userId: `user-${Math.floor(next() * USERS)}`,
        quantity: 1 + Math.floor(next() * 3),
      }));

      const burstStart = Date.now();
      const submitted = await submitOrders(apiUrl, orders, 64);
      const burstMs = Date.now() - burstStart;
      const accepted = submitted.filter((s) => s.status === 202);
      const views = await waitUntilDecided(
        apiUrl,
        accepted.map((s) => s.orderId!),
        60_000,
        ADMIN_TOKEN,
      );

      // Every request got an honest answer: accepted, or refused as sold out. No 5xx, no timeout.
      const outcomes = new Map<string, number>();
      for (const s of submitted)
        outcomes.set(
          `${s.status} ${s.code ?? ''}`.trim(),
          (outcomes.get(`${s.status} ${s.code ?? ''}`.trim()) ?? 0) + 1,
        );
      assert.deepEqual(
        [...outcomes.keys()].filter((k) => k !== '202' && k !== '409 sold_out'),
        [],
        `unexpected answers: ${JSON.stringify([...outcomes])}`,
      );

      // Every accepted order reached a terminal status; ids are unique.
      assert.equal(new Set(accepted.map((s) => s.orderId)).size, accepted.length, 'an order id was handed out twice');
      const stuck = accepted.filter((s) => !['confirmed', 'rejected'].includes(views.get(s.orderId!)?.status ?? ''));
      assert.equal(stuck.length, 0, `${stuck.length} accepted orders never decided`);

      const decided = [...views.values()].filter((v) => v !== undefined);
      for (const productId of productIds) {
        const mine = decided.filter((v) => v.productId === productId);
        const confirmedUnits = mine.filter((v) => v.status === 'confirmed').reduce((sum, v) => sum + v.quantity, 0);
        const product = (await requestJson(`${apiUrl}/products/${productId}`)).body;
        assert.equal(confirmedUnits, UNITS, `${productId}: ${confirmedUnits} units confirmed`);
        assert.equal(product.stock, 0, `${productId}: stock ${product.stock} left`);
        assert.equal(confirmedUnits + product.stock, UNITS, `${productId}: confirmed + remaining != initial`);
        // Applied exactly once: the stock counters and the per-user ledger agree with the orders.
        assert.equal(
          product.sold,
          confirmedUnits,
          `${productId}: sold ${product.sold} but orders confirm ${confirmedUnits}`,
        );
        const ledger = await redis.hgetall(createKeys(PREFIX).buyers(productId));
        const byUser = new Map<string, number>();
        for (const v of mine.filter((o) => o.status === 'confirmed'))
          byUser.set(v.userId, (byUser.get(v.userId) ?? 0) + v.quantity);
        assert.deepEqual(
          Object.fromEntries(Object.entries(ledger).map(([u, n]) => [u, Number(n)])),
          Object.fromEntries(byUser),
          `${productId}: buyer ledger disagrees with confirmed orders`,
        );
        if (product.perUserLimit !== null) {
          for (const [user, units] of byUser)
            assert.ok(units <= PER_USER_LIMIT, `${productId}: ${user} got ${units} units over the limit`);
        }
      }
      // No order nobody submitted.
      const orderKeys = await scanKeys(redis, createKeys(PREFIX).everyOrder());
      assert.equal(orderKeys.length, accepted.length, 'orders exist that no 202 answered for');

      const lastDecision = Math.max(...decided.map((v) => Date.parse(v.decidedAt!)));
      const reasons = new Map<string, number>();
      for (const v of decided) reasons.set(v.reason ?? v.status, (reasons.get(v.reason ?? v.status) ?? 0) + 1);
      const figures = {
        requests: ORDERS,
        accepted: accepted.length,
        refusedSoldOutAtOnce: outcomes.get('409 sold_out') ?? 0,
        decisions: Object.fromEntries(reasons),
        burstSeconds: burstMs / 1000,
        requestsPerSecond: Math.round(ORDERS / (burstMs / 1000)),
        acceptLatencyMs: {
          p50: percentile(
            submitted.map((s) => s.latencyMs),
            50,
          ),
          p99: percentile(
            submitted.map((s) => s.latencyMs),
            99,
          ),
        },
        secondsUntilAllTerminal: (lastDecision - burstStart) / 1000,
      };
      t.diagnostic(`figures ${JSON.stringify(figures)}`);
    });
  });
