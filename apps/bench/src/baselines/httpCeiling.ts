import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { cpuMsSince } from '../measure.ts';
import { loadTest, type LoadTestResult } from '../load/loadTest.ts';
import { loadTestInChild } from '../load/loadTestInChild.ts';
import { wrkLoad } from '../load/wrk.ts';
import { startNodeOrderServer, startOrderServer, type BaselineOrder, type OrderServer } from './orderServer.ts';

export interface HttpCeilingOptions {
  redisUrl: string;
  /** Default BullMQ `prefix` of variant (b): `<keyPrefix>:{bench-http}`. */
  keyPrefix: string;
  /** Variant (b)'s queue, obliterated before and after. Default `http-ceiling`. */
  queueName?: string;
  prefix?: string;
  /** N, requests per variant. Default 20,000. */
  requests?: number;
  /** K, requests in flight. Default 64. */
  concurrency?: number;
  /**
   * `wrk` (a C generator in its own process, what the bench uses: `serverCpuMs` is the servers' alone,
   * and the generator costs a small part of it); default `child`: the Node generator in a forked
   * process, which sends exactly `requests` (wrk stops after that many answers, a few more in flight).
   */
  generator?: Generator;
  /** With `wrk`: an Idempotency-Key on every request, as the Flashline scenarios it is compared with send. */
  idempotencyKeys?: boolean;
  /** Body of request `i`. Default: one product, 1,000 users, quantity 1 or 2. */
  body?: (i: number) => BaselineOrder;
}

export interface HttpVariantResult extends LoadTestResult {
  /** CPU of this process (the server) during the load; with `generator: 'inProcess'` it includes the generator's. */
  serverCpuMs: number;
  /** The generator process's CPU; absent in-process. */
  generatorCpuMs?: number;
}

type Generator = 'wrk' | 'child' | 'inProcess';

export interface HttpCeilingResult {
  generator: Generator;
  /** (0) Node's own `node:http`, validation and a 202, no framework, no Redis: the physical limit. */
  nodeHttp: HttpVariantResult;
  /** (a) validation and a 202, no Redis at all. */
  validateOnly: HttpVariantResult;
  /** (b) validation, `Queue.add`, then the 202. */
  validateAndEnqueue: HttpVariantResult & { jobsEnqueued: number };
}

const defaultBody = (i: number): BaselineOrder => ({
  productId: 'bench-tv',
  userId: `user-${i % 1000}`,
  quantity: 1 + (i % 2),
});

/**
 * The HTTP ceiling: what `node:http` plus validation (0), Express plus validation (a), and plus one
 * `Queue.add` (b), can answer on this machine. Flashline's `POST /orders` does more than (b) (idempotency, rate limits, the order
 * record), so (b) bounds it from above.
 */
export async function httpCeiling(options: HttpCeilingOptions): Promise<HttpCeilingResult> {
  const generator = options.generator ?? 'child';
  const run = (server: OrderServer) => measure(server, options, generator);

  const node = await startNodeOrderServer(async () => {});
  const nodeHttp = await run(node).finally(() => node.close());
  const bare = await startOrderServer(async () => {});
  const validateOnly = await run(bare).finally(() => bare.close());

  const connection = new Redis(options.redisUrl, {
    maxRetriesPerRequest: null,
    connectionName: 'flashline-bench-http',
  });
  connection.on('error', () => {});
  const queue = new Queue(options.queueName ?? 'http-ceiling', {
    connection,
    prefix: options.prefix ?? `${options.keyPrefix}:{bench-http}`,
  });
  try {
    await queue.obliterate({ force: true });
    const enqueuing = await startOrderServer(async (order) => {
      await queue.add('order', order, { removeOnComplete: true });
    });
    const validateAndEnqueue = await run(enqueuing).finally(() => enqueuing.close());
    return {
      generator,
      nodeHttp,
      validateOnly,
      validateAndEnqueue: { ...validateAndEnqueue, jobsEnqueued: await queue.count() },
    };
  } finally {
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
    await connection.quit().catch(() => connection.disconnect());
  }
}

async function measure(
  server: OrderServer,
  options: HttpCeilingOptions,
  generator: Generator,
): Promise<HttpVariantResult> {
  const load = {
    url: `${server.url}/orders`,
    concurrency: options.concurrency ?? 64,
    total: options.requests ?? 20_000,
    body: options.body ?? defaultBody,
  };
  if (generator === 'wrk') {
    // Warmed up (JIT, connections) as the Flashline scenarios' API is before its burst.
    await wrkLoad({ ...load, total: Math.min(2000, load.total) });
    const cpuBefore = process.cpuUsage();
    const result = await wrkLoad({
      ...load,
      ...(options.idempotencyKeys ? { idempotencyKeyPrefix: 'cart-' } : {}),
    });
    return { ...result, serverCpuMs: cpuMsSince(cpuBefore) };
  }
  if (generator === 'child') {
    const { callerCpuMs, ...result } = await loadTestInChild(load);
    return { ...result, serverCpuMs: callerCpuMs };
  }
  const cpuBefore = process.cpuUsage();
  const result = await loadTest(load);
  return { ...result, serverCpuMs: cpuMsSince(cpuBefore) };
}
