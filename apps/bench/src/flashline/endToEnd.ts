import { setTimeout as sleep } from 'node:timers/promises';
import { type RedisClient, connectRedis, createKeys, createOrdersQueue, loadConfig, setProduct } from '@flashline/core';
import { freePort, startApp, type AppProcess } from '@flashline/test-utils';
import { wrkLoad } from '../load/wrk.ts';
import { round } from '../measure.ts';
import { cpuSeconds, redisCpuSeconds } from './cpu.ts';
import { checkInvariant, type Invariant } from './invariant.ts';

export interface EndToEndOptions {
  redisUrl: string;
  keyPrefix: string;
  products: { productId: string; stock: number }[];
  /** Which product request `i` is for (index into products). */
  productOf: (i: number) => number;
  requests: number;
  concurrency: number;
  workers: number;
  env?: Record<string, string>;
  /** Start the workers only after the burst: the burst then measures the accept path alone, as the HTTP ceiling does. */
  workersAfterBurst?: boolean;
  /** Send an Idempotency-Key on every request (a careful client's), a fresh one each. */
  idempotencyKeys?: boolean;
  /** After the burst: set this product's stock and time how long until the API accepts an order for it again. */
  restock?: { productId: string; stock: number };
}

export interface EndToEndResult {
  requestsPerSecond: number;
  acceptLatencyMs: { p50: number; p99: number };
  statusCounts: Record<string, number>;
  /** From the last answer of the burst until every accepted order was decided. */
  drainMs: number;
  /** Share of one core each process used during the burst. */
  cpu: Record<string, number>;
  /** CPU the API process spent per request answered during the burst, in microseconds. */
  apiCpuMicrosPerRequest: number;
  invariant: Invariant;
  /** Time from the restock until the first 202 for the product (the API's sold-out memory expiring). */
  restockSeenMs?: number;
}

/**
 * The whole pipeline through HTTP: the real API process and worker processes, wrk sending `requests`
 * POST /orders, `concurrency` at a time, over keep-alive. Rate limits are off unless `env` turns them
 * on (the generator is one client address: a per-address limit needs a ceiling above the load). Ends
 * with the invariant check.
 */
export async function measureEndToEnd(options: EndToEndOptions): Promise<EndToEndResult> {
  const port = await freePort();
  const env = {
    REDIS_URL: options.redisUrl,
    KEY_PREFIX: options.keyPrefix,
    PORT: String(port),
    ADMIN_TOKEN: 'bench-admin-token-0123456789',
    RATE_LIMIT_PER_IP: '0',
    RATE_LIMIT_PER_USER: '0',
    ...options.env,
  };
  const redis = connectRedis({ redisUrl: options.redisUrl, redisTimeoutMs: 2000 }, 'worker');
  const keys = createKeys(options.keyPrefix);
  const apps: AppProcess[] = [];
  try {
    for (const product of options.products) await setProduct(redis, keys, product.productId, { stock: product.stock });
    const api = startApp('apps/api/src/main.ts', env);
    apps.push(api);
    const startWorkers = async () => {
      const workers = Array.from({ length: options.workers }, () => startApp('apps/worker/src/main.ts', env));
      apps.push(...workers);
      await Promise.all(workers.map((w) => w.waitForLog(/worker ready/, 30_000)));
    };
    await Promise.all([
      api.waitForLog(/api listening/, 30_000),
      options.workersAfterBurst ? undefined : startWorkers(),
    ]);
    const url = `http://127.0.0.1:${port}`;

    // Warm the API up (JIT, script cache, connections) as the ceiling's long-running server is: orders
    // for a product that does not exist run the whole accept path to the Lua script, and write nothing.
    await wrkLoad({
      url: `${url}/orders`,
      concurrency: options.concurrency,
      total: 2000,
      body: (i) => ({ productId: 'no-such-product', userId: `warm-${i}`, quantity: 1 }),
      ...(options.idempotencyKeys ? { idempotencyKeyPrefix: 'warm-' } : {}),
    });

    const pids: Record<string, number> = {
      api: api.child.pid!,
      ...Object.fromEntries(apps.slice(1).map((w, i) => [`worker${i + 1}`, w.child.pid!])),
    };
    const cpuBefore = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid)]));
    const redisBefore = await redisCpuSeconds(redis);
    const load = await wrkLoad({
      url: `${url}/orders`,
      concurrency: options.concurrency,
      total: options.requests,
      body: (i) => ({
        productId: options.products[options.productOf(i)]!.productId,
        userId: `buyer-${i}`,
        quantity: 1,
      }),
      ...(options.idempotencyKeys ? { idempotencyKeyPrefix: 'cart-' } : {}),
    });
    const apiCpuMicros = (cpuSeconds(pids.api!) - cpuBefore.api!) * 1e6;
    const seconds = load.elapsedMs / 1000;
    const cpu: Record<string, number> = Object.fromEntries(
      Object.entries(pids).map(([name, pid]) => [
        name,
        round(((cpuSeconds(pid) - cpuBefore[name]!) / seconds) * 100) / 100,
      ]),
    );
    cpu.redis = round((((await redisCpuSeconds(redis)) - redisBefore) / seconds) * 100) / 100;
    cpu.generator = round((load.generatorCpuMs / load.elapsedMs) * 100) / 100;

    if (options.workersAfterBurst) await startWorkers();
    const drainMs = await drained(redis, keys, options.products);
    let restockSeenMs: number | undefined;
    if (options.restock) {
      restockSeenMs = await timeUntilAccepted(redis, keys, url, options.restock);
      await drained(redis, keys, options.products);
    }

    const accepted = load.statusCounts['202'] ?? 0;
    const invariant = await checkInvariant(
      redis,
      options.keyPrefix,
      restockAdjusted(options),
      accepted + (restockSeenMs === undefined ? 0 : 1),
    );
    return {
      requestsPerSecond: load.requestsPerSecond,
      acceptLatencyMs: { p50: load.latencyMs.p50, p99: load.latencyMs.p99 },
      statusCounts: load.statusCounts,
      drainMs,
      cpu,
      apiCpuMicrosPerRequest: round(apiCpuMicros / load.total),
      invariant,
      ...(restockSeenMs === undefined ? {} : { restockSeenMs }),
    };
  } finally {
    await Promise.all(apps.map((app) => app.stop()));
    redis.disconnect();
  }
}

/**
 * Waits until no product has an undecided order (at most 2 minutes: the invariant check reports what
 * is left). Polls the queue's counts (cheap whatever the number of products), then confirms with the
 * products' pending sets, read once in a pipeline.
 */
async function drained(
  redis: RedisClient,
  keys: ReturnType<typeof createKeys>,
  products: { productId: string }[],
): Promise<number> {
  const started = performance.now();
  const queue = createOrdersQueue(loadConfig({ KEY_PREFIX: keys.prefix }), redis);
  try {
    for (;;) {
      const counts = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized');
      if (Object.values(counts).every((n) => n === 0)) {
        const pipeline = redis.pipeline();
        for (const p of products) pipeline.zcard(keys.pending(p.productId));
        const pending = ((await pipeline.exec()) ?? []).reduce((sum, [, n]) => sum + Number(n), 0);
        if (pending === 0) return round(performance.now() - started);
      }
      if (performance.now() - started > 120_000) return round(performance.now() - started);
      await sleep(10);
    }
  } finally {
    await queue.close();
  }
}

/** A restock adds units: the invariant's initial stock of that product grows by them. */
function restockAdjusted(options: EndToEndOptions) {
  return options.products.map((p) =>
    options.restock?.productId === p.productId ? { ...p, stock: p.stock + options.restock.stock } : p,
  );
}

async function timeUntilAccepted(
  redis: RedisClient,
  keys: ReturnType<typeof createKeys>,
  url: string,
  restock: { productId: string; stock: number },
): Promise<number> {
  const { stock } = (await redis.hgetall(keys.product(restock.productId))) as { stock?: string };
  await setProduct(redis, keys, restock.productId, { stock: Number(stock ?? 0) + restock.stock });
  const started = performance.now();
  for (let i = 0; performance.now() - started < 10_000; i++) {
    const res = await fetch(`${url}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ productId: restock.productId, userId: `restock-${i}`, quantity: 1 }),
    });
    await res.arrayBuffer();
    if (res.status === 202) return round(performance.now() - started);
    await sleep(10);
  }
  throw new Error('the API never accepted an order after the restock');
}
