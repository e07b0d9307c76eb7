import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config/config.ts';

export const ORDERS_QUEUE = 'orders';

/** What a job carries: the order as accepted. The order hash in Redis stays the source of truth. */
export interface OrderJob {
  orderId: string;
  productId: string;
  userId: string;
  quantity: number;
}

export function orderJobOptions(config: Pick<Config, 'jobAttempts' | 'jobBackoffMs'>): JobsOptions {
  return {
    attempts: config.jobAttempts,
    backoff: { type: 'exponential', delay: config.jobBackoffMs },
    // The decision lives in the order hash; finished jobs are only kept for operators to look at.
    removeOnComplete: { age: 3600, count: 10_000 },
    removeOnFail: { age: 7 * 24 * 3600 },
  };
}

/** The producer's handle. It does not wait for a connection: with Redis down, `add` fails at once (the API answers 503). */
export function createOrdersQueue(config: Config, connection: Redis): Queue<OrderJob> {
  return new Queue<OrderJob>(ORDERS_QUEUE, {
    connection,
    skipWaitingForReady: true,
    prefix: config.queuePrefix,
    defaultJobOptions: orderJobOptions(config),
  });
}
