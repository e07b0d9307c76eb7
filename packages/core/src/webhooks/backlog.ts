import type { Queue } from 'bullmq';
import type { Keys } from '../keys/keys.ts';
import type { RedisClient } from '../redis/connect.ts';
import { unfinishedJobs } from './relay.ts';

/** Where a partition's webhook events stand, for the operator (the sale panel, the tests). */
export interface WebhookBacklog {
  partition: number;
  /** Events waiting in the compact backlog for room in the webhooks queue. */
  pending: number;
  /** Deliveries in the webhooks queue not yet delivered nor failed for good (at most WEBHOOK_INFLIGHT_MAX). */
  inFlight: number;
  /** Events dropped, oldest first, past WEBHOOK_BACKLOG_MAX: never delivered. */
  dropped: number;
  /** When the first and the last of them were dropped (ISO 8601), with `dropped` > 0. */
  firstDroppedAt?: string;
  lastDroppedAt?: string;
}

const iso = (epochMs: string | null) => (epochMs ? { at: new Date(Number(epochMs)).toISOString() } : undefined);

/** Every partition's backlog (index = partition), read from Redis: whichever process asks sees the same. */
export async function readWebhookBacklogs(
  redis: RedisClient,
  keys: Keys,
  queues: readonly Pick<Queue, 'getJobCounts'>[],
): Promise<WebhookBacklog[]> {
  return Promise.all(
    queues.map(async (queue, partition) => {
      const [pending, [count, firstAt, lastAt], inFlight] = await Promise.all([
        redis.xlen(keys.webhookBacklog(partition)),
        redis.hmget(keys.webhookDropped(partition), 'count', 'firstAt', 'lastAt'),
        unfinishedJobs(queue),
      ]);
      const first = iso(firstAt ?? null);
      const last = iso(lastAt ?? null);
      return {
        partition,
        pending,
        inFlight,
        dropped: Number(count ?? 0),
        ...(first ? { firstDroppedAt: first.at } : {}),
        ...(last ? { lastDroppedAt: last.at } : {}),
      };
    }),
  );
}
