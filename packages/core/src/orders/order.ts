import type { RedisClient } from '../redis/connect.ts';
import type { Keys } from '../keys/keys.ts';
import type { OrderJob } from '../queue/ordersQueue.ts';
import { decodeReopenOrder } from '../redis/replies.ts';
import type { OrderStatus, RejectReason } from './status.ts';
import { productOfOrder } from './orderId.ts';

export type { Decision, OrderStatus, RejectReason } from './status.ts';

/** An order as the API shows it: what was accepted, and its decision. */
export interface Order extends OrderJob {
  status: OrderStatus;
  reason?: RejectReason;
  createdAt: string;
  decidedAt?: string;
}

const iso = (epochMs: string) => new Date(Number(epochMs)).toISOString();

/** Reads one order; null when the id is not ours or no such order exists. */
export async function getOrder(redis: RedisClient, keys: Keys, orderId: string): Promise<Order | null> {
  const productId = productOfOrder(orderId);
  if (productId === null) return null;
  const fields = await redis.hgetall(keys.order(productId, orderId));
  if (!fields.status || !fields.userId || !fields.quantity || !fields.createdAt) return null;
  return {
    orderId,
    productId,
    userId: fields.userId,
    quantity: Number(fields.quantity),
    status: fields.status as OrderStatus,
    ...(fields.reason ? { reason: fields.reason as RejectReason } : {}),
    createdAt: iso(fields.createdAt),
    ...(fields.decidedAt ? { decidedAt: iso(fields.decidedAt) } : {}),
  };
}

/**
 * Queues again an order that ended processing_failed, for an operator's retry of its failed job;
 * true when it was reopened. Any other order is left as it was.
 */
export async function reopenOrder(
  redis: RedisClient,
  keys: Keys,
  productId: string,
  orderId: string,
): Promise<boolean> {
  const reply = decodeReopenOrder(
    await redis.reopenOrder([
      keys.order(productId, orderId),
      keys.pending(productId),
      keys.product(productId),
      Date.now(),
    ]),
  );
  return reply.kind === 'reopened';
}
