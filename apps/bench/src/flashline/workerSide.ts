import { setTimeout as sleep } from 'node:timers/promises';
import {
  type RedisClient,
  createOrderAcceptor,
  connectRedis,
  readPublishedMetrics,
  createKeys,
  createOrdersQueue,
  loadConfig,
  onePartition,
  setProduct,
  type Keys,
} from '@flashline/core';
import { startApp } from '@flashline/test-utils';
import { measureCpu, redisCpuSeconds, rssMiB } from './cpu.ts';
import { checkInvariant } from './invariant.ts';

const PREFILL_IN_FLIGHT = 64;

export interface WorkerSideOptions {
  redisUrl: string;
  keyPrefix: string;
  /** Product ids and the stock of each. */
  products: { productId: string; stock: number }[];
  /** Which product each order is for (index into products), one entry per order. */
  orderProducts: number[];
  workers: number;
  env?: Record<string, string>;
  /** Set every product's stock to this after the orders were accepted, before the workers run (a correction). */
  stockBeforeRun?: number;
  /** Sample each worker's resident memory every this many ms during the drain. */
  rssEveryMs?: number;
}

/** Worker RSS over a run: samples as [orders decided so far, MiB of each worker]. */
export interface RssTrace {
  samples: { decided: number; mib: number[] }[];
}

/**
 * Flashline's decisions per second, worker side: the queue is pre-filled with every order (accepted
 * through the domain, exactly as the API does), then the worker processes start and the clock runs
 * until the queue is empty.
 */
async function usedMemory(redis: RedisClient): Promise<number> {
  return Number(/^used_memory:(\d+)/m.exec(await redis.info('memory'))?.[1] ?? NaN);
}

/** Mean MEMORY USAGE of up to 200 of the product's order records: what one decided order costs, alone. */
async function sampleOrderBytes(redis: RedisClient, keys: Keys, productId: string): Promise<number> {
  const [, found] = await redis.scan('0', 'MATCH', keys.order(productId, '*'), 'COUNT', 1000);
  const sample = found.slice(0, 200);
  const sizes = await Promise.all(sample.map((key) => redis.memory('USAGE', key)));
  return sizes.reduce<number>((sum, size) => sum + Number(size ?? 0), 0) / Math.max(1, sample.length);
}

/** Commits (batches) the workers ran and the orders they carried, summed over the workers' published metrics. */
async function commitStats(
  redis: RedisClient,
  keys: Keys,
): Promise<{ batches: number; products: number; orders: number }> {
  const sum = (name: string, copies: Awaited<ReturnType<typeof readPublishedMetrics>>) =>
    copies
      .flatMap((copy) =>
        copy.filter((metric) => metric.name === name).flatMap((metric) => metric.values.map((v) => Number(v.value))),
      )
      .reduce((a, b) => a + b, 0);
  const copies = await readPublishedMetrics(redis, keys);
  return {
    batches: sum('flashline_commit_batches_total', copies),
    products: sum('flashline_commit_batch_products_total', copies),
    orders: sum('flashline_commit_batch_orders_total', copies),
  };
}

export async function measureWorkerSide(options: WorkerSideOptions) {
  const env = { REDIS_URL: options.redisUrl, KEY_PREFIX: options.keyPrefix, ...options.env };
  const config = loadConfig(env);
  const redis = connectRedis(config, 'worker');
  const keys = createKeys(config.keyPrefix);
  const queue = createOrdersQueue(config, redis);
  try {
    for (const product of options.products) await setProduct(redis, keys, product.productId, { stock: product.stock });
    const memoryBefore = await usedMemory(redis);
    // Accepted exactly as the API does, PREFILL_IN_FLIGHT at a time (the HTTP scenarios' in-flight
    // count), so the accept path forms the batches it would form under that load.
    const acceptor = createOrderAcceptor(
      { redis, keys, queues: onePartition(queue) },
      { ...config, soldOutMemoryMs: 0, rateLimit: { perUser: 0, windowMs: config.rateLimit.windowMs } },
    );
    let next = 0;
    await Promise.all(
      Array.from({ length: PREFILL_IN_FLIGHT }, async () => {
        for (let i = next++; i < options.orderProducts.length; i = next++) {
          const outcome = await acceptor.accept({
            productId: options.products[options.orderProducts[i]!]!.productId,
            userId: `b${i}`,
            quantity: 1,
          });
          if (outcome.kind === 'refused') throw outcome.error;
        }
      }),
    );
    const jobsPerOrder = acceptor.batcher.stats.jobs / acceptor.batcher.stats.orders;
    const stockBeforeRun = options.stockBeforeRun;
    const products =
      stockBeforeRun === undefined ? options.products : options.products.map((p) => ({ ...p, stock: stockBeforeRun }));
    if (stockBeforeRun !== undefined)
      for (const product of products) await setProduct(redis, keys, product.productId, { stock: stockBeforeRun });
    await queue.pause(); // workers start, connect, and wait: the clock measures deciding, not booting
    const workers = Array.from({ length: options.workers }, () => startApp('apps/worker/src/main.ts', env));
    await Promise.all(workers.map((w) => w.waitForLog(/worker ready/, 30_000)));
    const pids = Object.fromEntries(workers.map((w, i) => [`worker${i + 1}`, w.child.pid!]));
    const redisCpuBefore = await redisCpuSeconds(redis);
    const rss: RssTrace = { samples: [] };
    let nextSample = 0;
    const { cpu, elapsedMs } = await measureCpu(pids, async () => {
      await queue.resume();
      for (;;) {
        const counts = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized');
        const left = Object.values(counts).reduce((a, b) => a + b, 0);
        if (options.rssEveryMs && performance.now() >= nextSample) {
          nextSample = performance.now() + options.rssEveryMs;
          // `left` counts jobs; each carries ordersPerJob orders on average.
          rss.samples.push({
            decided: Math.round(options.orderProducts.length - left / jobsPerOrder),
            mib: workers.map((w) => rssMiB(w.child.pid!)),
          });
        }
        if (left === 0) return;
        await sleep(20);
      }
    });
    // Redis memory the run added, over the orders it decided: order records, ledgers, and the
    // queue's bounded history of finished jobs (removeOnComplete keeps the last 10,000).
    const memoryAfter = await usedMemory(redis);
    // Redis' share of one core over the run (the drain polling above adds a little).
    cpu.redis = ((await redisCpuSeconds(redis)) - redisCpuBefore) / (elapsedMs / 1000);
    // The workers publish their metrics every second: the next copy has every commit of the run.
    await sleep(1200);
    const commits = await commitStats(redis, keys);
    await Promise.all(workers.map((w) => w.stop()));
    const orders = options.orderProducts.length;
    const orderBytes = await sampleOrderBytes(redis, keys, options.products[0]!.productId);
    const invariant = await checkInvariant(redis, options.keyPrefix, products, orders);
    return {
      orders,
      elapsedMs,
      decisionsPerSecond: orders / (elapsedMs / 1000),
      ordersPerJob: 1 / jobsPerOrder,
      ordersPerCommit: commits.orders / commits.batches,
      productsPerCommit: commits.products / commits.batches,
      cpu,
      rss,
      redisBytesPerOrder: (memoryAfter - memoryBefore) / orders,
      orderBytes,
      invariant,
    };
  } finally {
    await queue.close();
    redis.disconnect();
  }
}
