import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Config,
  type RedisClient,
  connectRedis,
  createKeys,
  createOrdersQueues,
  loadConfig,
  pipelineBySlot,
  setProduct,
} from '@flashline/core';
import { freePort, startApp, type AppProcess } from '@flashline/test-utils';
import { RedisNodes } from '../cluster/redisNodes.ts';
import { nodeDeltas, type NodeReading } from '../cluster/nodeStats.ts';
import { wrkLoad } from '../load/wrk.ts';
import { round } from '../measure.ts';
import { cpuSeconds, treeCpuSeconds } from './cpu.ts';
import { checkInvariant, type Invariant } from './invariant.ts';
import { targetEnv, type ClusterTarget } from './workerSide.ts';

export interface EndToEndOptions {
  redisUrl: string;
  /** A Redis Cluster to run on instead of `redisUrl`. */
  cluster?: ClusterTarget;
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
  /** What each Redis server (a cluster's masters) did during the burst. */
  perNode: NodeReading[];
  /** CPU wrk spent per request, in microseconds: one core's worth of it is the generator's own ceiling. */
  generatorCpuMicrosPerRequest: number;
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
    ...targetEnv(options),
    KEY_PREFIX: options.keyPrefix,
    PORT: String(port),
    ADMIN_TOKEN: 'bench-admin-token-0123456789',
    RATE_LIMIT_PER_IP: '0',
    RATE_LIMIT_PER_USER: '0',
    ...options.env,
  };
  const config = loadConfig(env);
  const redis = connectRedis(config, 'worker');
  const nodes = new RedisNodes(options.cluster?.masterUrls ?? [options.redisUrl]);
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
    // The API is a pool (its primary and API_PROCESSES processes): its CPU is the whole tree's.
    const cpuOf = (name: string, pid: number) => (name === 'api' ? treeCpuSeconds(pid) : cpuSeconds(pid));
    const cpuBefore = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuOf(name, pid)]));
    const nodesBefore = await nodes.read();
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
    const apiCpuMicros = (cpuOf('api', pids.api!) - cpuBefore.api!) * 1e6;
    const seconds = load.elapsedMs / 1000;
    const cpu: Record<string, number> = Object.fromEntries(
      Object.entries(pids).map(([name, pid]) => [
        name,
        round(((cpuOf(name, pid) - cpuBefore[name]!) / seconds) * 100) / 100,
      ]),
    );
    const perNode = nodeDeltas(nodesBefore, await nodes.read());
    cpu.redis = round((perNode.reduce((sum, n) => sum + n.cpuSeconds, 0) / seconds) * 100) / 100;
    cpu.generator = round((load.generatorCpuMs / load.elapsedMs) * 100) / 100;

    if (options.workersAfterBurst) await startWorkers();
    const drainMs = await drained(redis, config, options.products);
    let restockSeenMs: number | undefined;
    if (options.restock) {
      restockSeenMs = await timeUntilAccepted(redis, keys, url, options.restock);
      await drained(redis, config, options.products);
    }

    const accepted = load.statusCounts['202'] ?? 0;
    const invariant = await checkInvariant(
      redis,
      options.keyPrefix,
      restockAdjusted(options),
      accepted + (restockSeenMs === undefined ? 0 : 1),
      (pattern) => nodes.scan(pattern),
    );
    return {
      requestsPerSecond: load.requestsPerSecond,
      acceptLatencyMs: { p50: load.latencyMs.p50, p99: load.latencyMs.p99 },
      statusCounts: load.statusCounts,
      drainMs,
      cpu,
      apiCpuMicrosPerRequest: round(apiCpuMicros / load.total),
      perNode,
      generatorCpuMicrosPerRequest: round((load.generatorCpuMs * 1000) / load.total),
      invariant,
      ...(restockSeenMs === undefined ? {} : { restockSeenMs }),
    };
  } finally {
    await Promise.all(apps.map((app) => app.stop()));
    redis.disconnect();
    nodes.close();
  }
}

/**
 * Waits until no product has an undecided order (at most 2 minutes: the invariant check reports what
 * is left). Polls the queue's counts (cheap whatever the number of products), then confirms with the
 * products' pending sets, read once in a pipeline.
 */
async function drained(redis: RedisClient, config: Config, products: { productId: string }[]): Promise<number> {
  const started = performance.now();
  const keys = createKeys(config.keyPrefix);
  const queues = createOrdersQueues(config, redis);
  try {
    for (;;) {
      const counts = await Promise.all(
        queues.all.map((queue) => queue.getJobCounts('wait', 'active', 'delayed', 'prioritized')),
      );
      if (counts.every((c) => Object.values(c).every((n) => n === 0))) {
        const replies = await pipelineBySlot(
          redis,
          products,
          (p) => keys.pending(p.productId),
          (pipeline, p) => pipeline.zcard(keys.pending(p.productId)),
        );
        const pending = replies.flat().reduce((sum, [, n]) => sum + Number(n), 0);
        if (pending === 0) return round(performance.now() - started);
      }
      if (performance.now() - started > 120_000) return round(performance.now() - started);
      await sleep(10);
    }
  } finally {
    await queues.close();
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
