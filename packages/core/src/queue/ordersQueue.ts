import { Queue, type JobsOptions } from 'bullmq';
import type { RedisClient } from '../redis/connect.ts';
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

type QueueSettings = Pick<
  Config,
  'keyPrefix' | 'queuePrefix' | 'queuePartitions' | 'jobAttempts' | 'jobBackoffMs' | 'orderRetentionMs'
>;

/**
 * Where one partition of the orders queue lives: its BullMQ name and prefix. A BullMQ queue keeps all
 * its keys in one hash slot, so each partition's prefix carries a hash tag of its own (`fl:{queue}` for
 * partition 0, the layout of the single queue before partitions; `fl:{queue:3}` for partition 3).
 */
export function partitionQueue(config: Pick<Config, 'keyPrefix' | 'queuePrefix'>, partition: number) {
  return partition === 0
    ? { name: ORDERS_QUEUE, prefix: config.queuePrefix }
    : { name: `${ORDERS_QUEUE}-${partition}`, prefix: `${config.keyPrefix}:{queue:${partition}}` };
}

export const WEBHOOKS_QUEUE = 'webhooks';

/**
 * Where one partition of the webhooks queue lives: its own name (`webhooks`, `webhooks-3`) under the
 * orders partition's prefix, so its keys carry the same hash tag (the same Cluster slot) and the
 * deliveries of a partition's orders spread over the masters as its orders do.
 */
export function webhookPartitionQueue(config: Pick<Config, 'keyPrefix' | 'queuePrefix'>, partition: number) {
  const { prefix } = partitionQueue(config, partition);
  return { name: partition === 0 ? WEBHOOKS_QUEUE : `${WEBHOOKS_QUEUE}-${partition}`, prefix };
}

/** A product's partition: its group's (keys.ts), so the products of one group, decided together, share a queue. */
export const partitionOfGroup = (group: number, partitions: number): number => group % partitions;

/** The producer's handle on one partition. It does not wait for a connection: with Redis down, `add` fails at once (the API answers 503). */
export function createOrdersQueue(config: QueueSettings, connection: RedisClient, partition = 0): Queue<OrdersJobData> {
  const { name, prefix } = partitionQueue(config, partition);
  return new Queue<OrdersJobData>(name, {
    connection,
    skipWaitingForReady: true,
    prefix,
    defaultJobOptions: orderJobOptions(config),
  });
}

/** Every partition of the orders queue, and the one a product's orders go to. */
export interface OrdersQueues {
  readonly all: readonly Queue<OrdersJobData>[];
  /** The partition of a product group (keys.group). */
  ofGroup(group: number): Queue<OrdersJobData>;
  close(): Promise<void>;
}

export function createOrdersQueues(config: QueueSettings, connection: RedisClient): OrdersQueues {
  const all = Array.from({ length: config.queuePartitions }, (_, p) => createOrdersQueue(config, connection, p));
  return {
    all,
    ofGroup: (group) => all[partitionOfGroup(group, all.length)]!,
    close: async () => {
      await Promise.all(all.map((queue) => queue.close()));
    },
  };
}

/** One queue as the only partition (QUEUE_PARTITIONS=1): for tests and tools that hold a queue of their own. */
export function onePartition(queue: Queue<OrdersJobData>): OrdersQueues {
  return { all: [queue], ofGroup: () => queue, close: () => queue.close() };
}
