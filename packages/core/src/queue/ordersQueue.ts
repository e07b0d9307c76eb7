import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config/config.ts';

export const ORDERS_QUEUE = 'orders';

/** One order as accepted. The order hash in Redis stays the source of truth. */
export interface OrderJob {
  orderId: string;
  productId: string;
  userId: string;
  quantity: number;
}

/**
 * The orders one API process accepted together, in one job (any products): one job per batch
 * instead of one per order is what lets the workers decide faster than BullMQ runs jobs.
 */
export interface OrderBatchJob {
  orders: OrderJob[];
}

/** What a job carries: one order (job id = order id), or a batch (job id = `batch~<random>`). */
export type OrdersJobData = OrderJob | OrderBatchJob;

export const ordersOf = (data: OrdersJobData): OrderJob[] => ('orders' in data ? data.orders : [data]);

/**
 * How long finished jobs are kept, in seconds. A job names its orders' buyers and an operator may
 * retry it: it is kept no longer than its orders (ORDER_RETENTION_S after their decision), completed
 * ones at most an hour (only for operators to look at). The reconciler enforces the ages on a quiet
 * queue too.
 */
export function finishedJobAges(orderRetentionMs: number): { completed: number; failed: number } {
  const retentionS = Math.max(1, Math.floor(orderRetentionMs / 1000));
  return { completed: Math.min(3600, retentionS), failed: retentionS };
}

export function orderJobOptions(
  config: Pick<Config, 'jobAttempts' | 'jobBackoffMs' | 'orderRetentionMs'>,
): JobsOptions {
  const ages = finishedJobAges(config.orderRetentionMs);
  return {
    attempts: config.jobAttempts,
    backoff: { type: 'exponential', delay: config.jobBackoffMs },
    removeOnComplete: { age: ages.completed, count: 10_000 },
    removeOnFail: { age: ages.failed },
  };
}

/** The producer's handle. It does not wait for a connection: with Redis down, `add` fails at once (the API answers 503). */
export function createOrdersQueue(
  config: Pick<Config, 'queuePrefix' | 'jobAttempts' | 'jobBackoffMs' | 'orderRetentionMs'>,
  connection: Redis,
): Queue<OrdersJobData> {
  return new Queue<OrdersJobData>(ORDERS_QUEUE, {
    connection,
    skipWaitingForReady: true,
    prefix: config.queuePrefix,
    defaultJobOptions: orderJobOptions(config),
  });
}
