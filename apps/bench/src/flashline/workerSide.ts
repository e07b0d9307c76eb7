import { setTimeout as sleep } from 'node:timers/promises';
import {
  type RedisClient,
  createOrderAcceptor,
  connectRedis,
  readPublishedMetrics,
  createKeys,
  createOrdersQueues,
  loadConfig,
  setProduct,
  type Keys,
} from '@flashline/core';
import { startApp } from '@flashline/test-utils';
import { RedisNodes } from '../cluster/redisNodes.ts';
import { nodeDeltas } from '../cluster/nodeStats.ts';
import { measureCpu, rssMiB } from './cpu.ts';
import { checkInvariant } from './invariant.ts';

const PREFILL_IN_FLIGHT = 64;

/** A Redis Cluster to run on instead of `redisUrl`: its seed nodes, and its masters, whose CPU and commands are read. */
export interface ClusterTarget {
  seedNodes: string;
  masterUrls: string[];
  /** Read too, apart: a replica's CPU is a cost of the cluster on the same cores. */
  replicaUrls?: string[];
}

export interface WorkerSideOptions {
  redisUrl: string;
  cluster?: ClusterTarget;
  keyPrefix: string;
  /** Product ids and the stock of each (and its holdSeconds: won orders are then held, `reserved`). */
  products: { productId: string; stock: number; holdSeconds?: number }[];
  /** Which product each order is for (index into products), one entry per order. */
  orderProducts: number[];
  workers: number;
  env?: Record<string, string>;
  /** Set every product's stock to this after the orders were accepted, before the workers run (a correction). */
  stockBeforeRun?: number;
  /** Sample each worker's resident memory every this many ms during the drain. */
  rssEveryMs?: number;
  /**
   * How often the drain asks the queue whether it is empty (20 ms by default). On a cluster that is a
   * call per partition: the cluster rounds ask every 250 ms, and time the run by its order records.
   */
  pollMs?: number;
  /** After the drain, keep the idle workers this long and read what they cost Redis meanwhile. */
  idleMs?: number;
}

/** The apps' env for a target: the single Redis of `redisUrl`, or the cluster (REDIS_URL then unused). */
export const targetEnv = (options: {
  redisUrl: string;
  cluster?: ClusterTarget | undefined;
}): Record<string, string> =>
  options.cluster ? { REDIS_CLUSTER_NODES: options.cluster.seedNodes } : { REDIS_URL: options.redisUrl };

/** What the idle worker processes cost the Redis servers (summed over them), per second. */
export interface IdleCost {
  commandsPerSecond: number;
  cpuShare: number;
}

/** Worker RSS over a run: samples as [orders decided so far, MiB of each worker]. */
export interface RssTrace {
  samples: { decided: number; mib: number[] }[];
}

/** Mean MEMORY USAGE of up to 200 of the product's order records: what one decided order costs, alone. */
async function sampleOrderBytes(redis: RedisClient, nodes: RedisNodes, keys: Keys, productId: string): Promise<number> {
  const sample = (await nodes.scan(keys.order(productId, '*'))).slice(0, 200);
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

/**
 * Flashline's decisions per second, worker side: the queue is pre-filled with every order (accepted
 * through the domain, exactly as the API does), then the worker processes start and the clock runs
 * until the queue is empty.
 */
export async function measureWorkerSide(options: WorkerSideOptions) {
  const env = { ...targetEnv(options), KEY_PREFIX: options.keyPrefix, ...options.env };
  const config = loadConfig(env);
  const redis = connectRedis(config, 'worker');
  const nodes = new RedisNodes(options.cluster?.masterUrls ?? [options.redisUrl]);
  const replicas = new RedisNodes(options.cluster?.replicaUrls ?? []);
  const keys = createKeys(config.keyPrefix);
  const queues = createOrdersQueues(config, redis);
  try {
    for (const { productId, stock, holdSeconds } of options.products)
      await setProduct(redis, keys, productId, { stock, ...(holdSeconds ? { holdSeconds } : {}) });
    const memoryBefore = await nodes.usedMemory();
    // Accepted exactly as the API does, PREFILL_IN_FLIGHT at a time (the HTTP scenarios' in-flight
    // count), so the accept path forms the batches it would form under that load.
    const acceptor = createOrderAcceptor(
      { redis, keys, queues },
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
    // Workers start, connect, and wait: the clock measures deciding, not booting.
    await Promise.all(queues.all.map((queue) => queue.pause()));
    const beforeWorkers = await nodes.read();
    const workers = Array.from({ length: options.workers }, () => startApp('apps/worker/src/main.ts', env));
    await Promise.all(workers.map((w) => w.waitForLog(/worker ready/, 30_000)));
    // The workers' connections and blocked clients on the servers, over the worker processes.
    const connections = nodeDeltas(beforeWorkers, await nodes.read());
    const pids = Object.fromEntries(workers.map((w, i) => [`worker${i + 1}`, w.child.pid!]));
    const [nodesBefore, replicasBefore] = await Promise.all([nodes.read(), replicas.read()]);
    const rss: RssTrace = { samples: [] };
    let nextSample = 0;
    // A partition found empty stays so (no job is added during the drain; a retry is counted as delayed).
    let busy = [...queues.all];
    const resumedAt = Date.now();
    const { cpu, elapsedMs } = await measureCpu(pids, async () => {
      await Promise.all(queues.all.map((queue) => queue.resume()));
      for (;;) {
        const counts = await Promise.all(
          busy.map(async (queue) =>
            Object.values(await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized')).reduce(
              (a, b) => a + b,
              0,
            ),
          ),
        );
        busy = busy.filter((_, i) => counts[i]! > 0);
        const left = counts.reduce((a, b) => a + b, 0);
        if (options.rssEveryMs && performance.now() >= nextSample) {
          nextSample = performance.now() + options.rssEveryMs;
          // `left` counts jobs; each carries ordersPerJob orders on average.
          rss.samples.push({
            decided: Math.round(options.orderProducts.length - left / jobsPerOrder),
            mib: workers.map((w) => rssMiB(w.child.pid!)),
          });
        }
        if (left === 0) return;
        await sleep(options.pollMs ?? 20);
      }
    });
    // What each Redis server did over the run (the drain polling above adds a little).
    const perNode = nodeDeltas(nodesBefore, await nodes.read());
    const perReplica = nodeDeltas(replicasBefore, await replicas.read());
    // Redis memory the run added, over the orders it decided: order records, ledgers, and the
    // queue's bounded history of finished jobs (removeOnComplete keeps the last 10,000).
    const memoryAfter = await nodes.usedMemory();
    // Redis' share of one core over the run, summed over the servers (a cluster's masters).
    cpu.redis = perNode.reduce((sum, n) => sum + n.cpuSeconds, 0) / (elapsedMs / 1000);
    const idle = options.idleMs ? await idleCost(nodes, options.idleMs) : undefined;
    // The workers publish their metrics every second: the next copy has every commit of the run.
    await sleep(1200);
    const commits = await commitStats(redis, keys);
    await Promise.all(workers.map((w) => w.stop()));
    const orders = options.orderProducts.length;
    const orderBytes = await sampleOrderBytes(redis, nodes, keys, options.products[0]!.productId);
    const invariant = await checkInvariant(redis, options.keyPrefix, products, orders, (p) => nodes.scan(p));
    return {
      orders,
      elapsedMs,
      decisionsPerSecond: orders / (elapsedMs / 1000),
      // Timed by the order records instead (resume to the last decidedAt): free of the drain's polling interval.
      decidedPerSecond: orders / (Math.max(1, invariant.lastDecidedAt - resumedAt) / 1000),
      /** From the resume to the first decision: the workers' start, included in decidedPerSecond. */
      firstDecisionMs: invariant.firstDecidedAt - resumedAt,
      perNode,
      perReplica,
      connections,
      idle,
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
    await queues.close();
    redis.disconnect();
    nodes.close();
    replicas.close();
  }
}

async function idleCost(nodes: RedisNodes, idleMs: number): Promise<IdleCost> {
  const { nodes: idle, elapsedMs } = await nodes.during(() => sleep(idleMs));
  const seconds = elapsedMs / 1000;
  return {
    // Less the INFO call per node that the reading after counts (the one before counts itself out).
    commandsPerSecond: idle.reduce((sum, n) => sum + n.commands - 1, 0) / seconds,
    cpuShare: idle.reduce((sum, n) => sum + n.cpuSeconds, 0) / seconds,
  };
}
