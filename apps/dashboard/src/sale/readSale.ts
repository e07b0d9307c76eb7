import type { Queue } from 'bullmq';
import {
  type RedisClient,
  getProductStats,
  listProducts,
  lockHolder,
  pipelineBySlot,
  readDoorCounts,
  type DoorCopy,
  readWebhookBacklogs,
  type Keys,
  type ProductStats,
  type WebhookBacklog,
  type UnservedPartition,
  unservedPartitions,
} from '@flashline/core';

export interface SaleSources {
  redis: RedisClient;
  keys: Keys;
  /** Every partition of the orders queue. */
  orders: readonly Queue[];
  /** Every partition of the webhooks queue (with WEBHOOK_URL; none: the panel shows no webhooks line). */
  /** Every queue of each partition (orders, holds, webhooks); the orders partitions alone when not given. */
  partitions?: readonly (readonly Queue[])[];
  webhooks?: readonly Queue[];
}

/** The webhook events of every partition: waiting in the backlogs, in flight, dropped past the budget. */
export interface WebhooksLine {
  pending: number;
  inFlight: number;
  dropped: number;
  /** When the last of them was dropped (ISO 8601), once any was. */
  lastDroppedAt: string | null;
}

export const JOB_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed'] as const;
export type JobCounts = Record<(typeof JOB_STATES)[number], number>;

/** One read of everything the panel shows but the locks. */
export interface SaleReading {
  /** Server time when the read started: the data is at least this fresh. */
  at: number;
  products: ProductStats[];
  jobs: JobCounts;
  workers: number;
  /** The door counts every live API process published. */
  door: DoorCopy[];
  webhooks: WebhooksLine | null;
  /** Partitions with unfinished jobs that no live worker serves: the panel names each. */
  unserved: UnservedPartition[];
}

async function readWebhooks(redis: RedisClient, keys: Keys, queues: readonly Queue[]): Promise<WebhooksLine | null> {
  if (queues.length === 0) return null;
  const backlogs = await readWebhookBacklogs(redis, keys, queues);
  const sum = (pick: (b: WebhookBacklog) => number) => backlogs.reduce((total, b) => total + pick(b), 0);
  const last = backlogs
    .map((b) => b.lastDroppedAt ?? '')
    .sort()
    .at(-1);
  return {
    pending: sum((b) => b.pending),
    inFlight: sum((b) => b.inFlight),
    dropped: sum((b) => b.dropped),
    lastDroppedAt: last || null,
  };
}

export async function readSale({ redis, keys, orders, webhooks = [], partitions }: SaleSources): Promise<SaleReading> {
  const at = Date.now();
  const productIds = await listProducts(redis, keys);
  const [products, counts, workers, door, webhooksLine, unserved] = await Promise.all([
    getProductStats(redis, keys, productIds),
    Promise.all(orders.map((queue) => queue.getJobCounts(...JOB_STATES))),
    Promise.all(orders.map((queue) => queue.getWorkersCount())),
    readDoorCounts(redis, keys),
    readWebhooks(redis, keys, webhooks),
    unservedPartitions(redis, keys, partitions ?? orders.map((queue) => [queue])),
  ]);
  const jobs = Object.fromEntries(
    JOB_STATES.map((state) => [state, counts.reduce((sum, partition) => sum + (partition[state] ?? 0), 0)]),
  ) as JobCounts;
  // A worker process has a BullMQ worker on each partition it consumes: the busiest partition's count
  // is the number of processes when every one consumes every partition (the default).
  return { at, products, jobs, workers: Math.max(0, ...workers), door, webhooks: webhooksLine, unserved };
}

export interface LockState {
  productId: string;
  /** `host:pid` of the holder, or null when the lock is free. */
  holder: string | null;
  /** Milliseconds left on the lease (0 when free). */
  ttlMs: number;
  /** The last fencing token handed out for the product. */
  fence: number;
}

/** Lock state of a few products in one round trip. */
export async function readLocks(
  { redis, keys }: Pick<SaleSources, 'redis' | 'keys'>,
  productIds: readonly string[],
): Promise<LockState[]> {
  if (productIds.length === 0) return [];
  const replies = await pipelineBySlot(redis, productIds, keys.lock, (pipeline, productId) =>
    pipeline.get(keys.lock(productId)).pttl(keys.lock(productId)).get(keys.fence(productId)),
  );
  return productIds.map((productId, i) => {
    const [token, ttl, fence] = [0, 1, 2].map((k) => replies[i]?.[k]?.[1]) as [string | null, number, string | null];
    return {
      productId,
      holder: token ? lockHolder(token) : null,
      ttlMs: token ? Math.max(0, Number(ttl)) : 0,
      fence: Number(fence ?? 0),
    };
  });
}
