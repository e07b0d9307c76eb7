import type { Keys } from '../keys/keys.ts';
import type { RedisClient } from '../redis/connect.ts';
import type { Order } from './order.ts';

/** Decided: no longer `queued` (reserved, confirmed, rejected, or a later state). */
export const isDecided = (order: Pick<Order, 'status'>): boolean => order.status !== 'queued';

/**
 * Tells every API process that these orders are decided (one message for a job's orders), so the
 * requests waiting on them answer now. Order ids are `[A-Za-z0-9_.-]`, so a space separates them.
 * Best effort: a message lost (Redis down, the worker gone after its commit) only makes a waiting
 * request answer at the end of its wait, as it is then; an order's decision is in its record, never here.
 */
export async function publishDecided(redis: RedisClient, keys: Keys, orderIds: readonly string[]): Promise<void> {
  if (orderIds.length === 0) return;
  await redis.publish(keys.decidedChannel(), orderIds.join(' '));
}

/** The order ids a message on the decided channel names. */
export const decidedIdsOf = (message: string): string[] => message.split(' ').filter(Boolean);
