import { Queue } from 'bullmq';
import { Redis } from 'ioredis';

/** What both BullMQ ceiling variants share: the queue's identity and its size. */
export interface CeilingQueueOptions {
  redisUrl: string;
  /** Default BullMQ `prefix`: `<keyPrefix>:{bench-queue}` (one hash tag, as Flashline's own). */
  keyPrefix: string;
  /** Default `ceiling`. The queue is obliterated before and after the run. */
  queueName?: string;
  /** BullMQ's `prefix`; overrides the one derived from `keyPrefix`. */
  prefix?: string;
  /** N, trivial jobs to drain. Default 20,000. */
  jobs?: number;
  /** C, jobs one worker runs at once. Default 64. */
  concurrency?: number;
  /** Give up when the queue has not drained by then. Default 120,000 ms. */
  timeoutMs?: number;
}

export interface CeilingQueue {
  queue: Queue;
  name: string;
  prefix: string;
  jobs: number;
  concurrency: number;
  timeoutMs: number;
  /** How long `addBulk` took to pre-fill the N jobs. */
  prefillMs: number;
  /** Jobs still waiting, active, delayed or failed: 0 after a full drain. */
  left(): Promise<number>;
  close(): Promise<void>;
}

const CHUNK = 1000;

/** A fresh queue pre-filled with N no-op jobs (`addBulk` by 1,000) that vanish once completed. */
export async function prefilledQueue(options: CeilingQueueOptions): Promise<CeilingQueue> {
  const name = options.queueName ?? 'ceiling';
  const prefix = options.prefix ?? `${options.keyPrefix}:{bench-queue}`;
  const jobs = options.jobs ?? 20_000;
  const connection = new Redis(options.redisUrl, {
    maxRetriesPerRequest: null,
    connectionName: 'flashline-bench-queue',
  });
  connection.on('error', () => {});
  const queue = new Queue(name, { connection, prefix });
  await queue.obliterate({ force: true });
  const started = performance.now();
  for (let first = 0; first < jobs; first += CHUNK) {
    const size = Math.min(CHUNK, jobs - first);
    await queue.addBulk(
      Array.from({ length: size }, (_, k) => ({
        name: 'noop',
        data: { i: first + k },
        opts: { removeOnComplete: true },
      })),
    );
  }
  const prefillMs = performance.now() - started;
  return {
    queue,
    name,
    prefix,
    jobs,
    concurrency: options.concurrency ?? 64,
    timeoutMs: options.timeoutMs ?? 120_000,
    prefillMs,
    left: () => queue.getJobCountByTypes('wait', 'active', 'delayed', 'prioritized', 'waiting-children', 'failed'),
    async close() {
      await queue.obliterate({ force: true }).catch(() => {});
      await queue.close();
      await connection.quit().catch(() => connection.disconnect());
    },
  };
}
