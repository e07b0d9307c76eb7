import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { round } from '../measure.ts';
import { prefilledQueue, type CeilingQueue, type CeilingQueueOptions } from './ceilingQueue.ts';

export interface BullmqCeilingOptions extends CeilingQueueOptions {
  /** W, Worker instances in this process. Default 1. */
  workers?: number;
}

export interface BullmqCeilingResult {
  mode: 'inProcess' | 'processes';
  jobs: number;
  /** Worker instances (in-process) or worker processes. */
  workers: number;
  concurrency: number;
  /** Pre-filling the queue with `addBulk`, outside the clock. */
  prefillMs: number;
  /** From the moment every worker is ready until the N-th job completed. */
  elapsedMs: number;
  jobsPerSecond: number;
  /** Completions the workers counted: N when nothing was lost or run twice. */
  completed: number;
  /** Jobs still waiting, active, delayed or failed after the drain: 0. */
  left: number;
}

/**
 * BullMQ's own ceiling, in one process: how fast W workers of concurrency C drain N jobs whose
 * processor does nothing. No order processor can beat this figure on the same Redis.
 */
export async function bullmqCeiling(options: BullmqCeilingOptions): Promise<BullmqCeilingResult> {
  const ceiling = await prefilledQueue(options);
  const workerCount = options.workers ?? 1;
  const connections = Array.from({ length: workerCount }, () => {
    const connection = new Redis(options.redisUrl, {
      maxRetriesPerRequest: null,
      connectionName: 'flashline-bench-worker',
    });
    connection.on('error', () => {});
    return connection;
  });
  // autorun off: every worker is connected before the clock starts, none starts early.
  const workers = connections.map(
    (connection) =>
      new Worker(ceiling.name, async () => {}, {
        connection,
        prefix: ceiling.prefix,
        concurrency: ceiling.concurrency,
        autorun: false,
      }),
  );
  try {
    await Promise.all(workers.map((worker) => worker.waitUntilReady()));
    let completed = 0;
    const drained = new Promise<void>((resolve) => {
      for (const worker of workers) {
        worker.on('completed', () => {
          completed += 1;
          if (completed === ceiling.jobs) resolve();
        });
      }
    });
    const started = performance.now();
    for (const worker of workers) void worker.run().catch(() => {});
    await withTimeout(drained, ceiling.timeoutMs, () => `${completed} of ${ceiling.jobs} jobs completed`);
    const elapsedMs = performance.now() - started;
    return result('inProcess', ceiling, workerCount, elapsedMs, completed, await ceiling.left());
  } finally {
    await Promise.all(workers.map((worker) => worker.close()));
    await Promise.all(connections.map((connection) => connection.quit().catch(() => connection.disconnect())));
    await ceiling.close();
  }
}

export function result(
  mode: BullmqCeilingResult['mode'],
  ceiling: CeilingQueue,
  workers: number,
  elapsedMs: number,
  completed: number,
  left: number,
): BullmqCeilingResult {
  return {
    mode,
    jobs: ceiling.jobs,
    workers,
    concurrency: ceiling.concurrency,
    prefillMs: round(ceiling.prefillMs),
    elapsedMs: round(elapsedMs),
    jobsPerSecond: round(ceiling.jobs / (elapsedMs / 1000)),
    completed,
    left,
  };
}

export async function withTimeout<T>(work: Promise<T>, timeoutMs: number, progress: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not drained within ${timeoutMs} ms: ${progress()}`)), timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
