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
export function createOrdersQueue(
  config: Pick<Config, 'queuePrefix' | 'jobAttempts' | 'jobBackoffMs'>,
  connection: Redis,
): Queue<OrdersJobData> {
  return new Queue<OrdersJobData>(ORDERS_QUEUE, {
    connection,
    skipWaitingForReady: true,
    prefix: config.queuePrefix,
    defaultJobOptions: orderJobOptions(config),
  });
}
