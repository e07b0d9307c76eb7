import type { RedisClient } from '../redis/connect.ts';
import type { Keys } from '../keys/keys.ts';
import type { OrderJob } from '../queue/ordersQueue.ts';
import { decodeReopenOrder } from '../redis/replies.ts';
import type { OrderStatus, RejectReason } from './status.ts';
import { productOfOrder } from './orderId.ts';

export type { Decision, OrderEventType, OrderStatus, RejectReason } from './status.ts';

/** An order as the API shows it (and a webhook carries it): what was accepted, and where it stands. */
export interface Order extends OrderJob {
  status: OrderStatus;
  reason?: RejectReason;
  createdAt: string;
  decidedAt?: string;
  /** A held order's payment deadline (its product's holdSeconds after the decision). */
  holdExpiresAt?: string;
  confirmedAt?: string;
  cancelledAt?: string;
  expiredAt?: string;
}

const iso = (epochMs: string) => new Date(Number(epochMs)).toISOString();

/** The order hash's time fields (epoch milliseconds) and the ISO fields they become. */
const TIMES = ['decidedAt', 'holdExpiresAt', 'confirmedAt', 'cancelledAt', 'expiredAt'] as const;

/**
 * An order from its hash's fields (HGETALL, or a webhook outbox entry, which carries them); null
 * when they are not a whole order.
 */
export function orderFromFields(orderId: string, fields: Record<string, string | undefined>): Order | null {
  if (!fields.status || !fields.productId || !fields.userId || !fields.quantity || !fields.createdAt) return null;
  const order: Order = {
    orderId,
    productId: fields.productId,
    userId: fields.userId,
    quantity: Number(fields.quantity),
    status: fields.status as OrderStatus,
    ...(fields.reason ? { reason: fields.reason as RejectReason } : {}),
    createdAt: iso(fields.createdAt),
  };
  for (const time of TIMES) if (fields[time]) order[time] = iso(fields[time]);
  return order;
}

/** Reads one order; null when the id is not ours or no such order exists. */
export async function getOrder(redis: RedisClient, keys: Keys, orderId: string): Promise<Order | null> {
  const productId = productOfOrder(orderId);
  if (productId === null) return null;
  const fields = await redis.hgetall(keys.order(productId, orderId));
  return fields.productId === productId ? orderFromFields(orderId, fields) : null;
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
