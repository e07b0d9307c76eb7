import type { RedisClient } from '../redis/connect.ts';
import type { Keys } from '../keys/keys.ts';
import type { OrderJob } from '../queue/ordersQueue.ts';
import { decodeFailOrder } from '../redis/replies.ts';

/**
 * Ends undecided orders rejected / processing_failed: the one way Flashline gives up on an order,
 * whoever gives up (a worker whose job failed for good, a batch job's order that no retry can help,
 * the reconciler finding an order queued behind a failed job). A decided order keeps its decision
 * (its commit ran, the reply was lost); an order with no record is left alone. Resolves with how
 * many orders this call ended, from the script's own reply: nothing is read first.
 */
export async function failOrders(
  redis: RedisClient,
  keys: Keys,
  orders: readonly Pick<OrderJob, 'productId' | 'orderId'>[],
  retentionMs: number,
  /** The system's webhooks are on: each rejection is written to the webhook outbox in the same script. */
  events = false,
): Promise<number> {
  const now = Date.now();
  // One call per order: the orders of a batch job may belong to products of different Cluster slots.
  const replies = await Promise.all(
    orders.map(({ productId, orderId }) =>
      redis.failOrder([
        keys.order(productId, orderId),
        keys.pending(productId),
        keys.product(productId),
        keys.outbox(keys.group(productId)),
        now,
        retentionMs,
        events ? '1' : '',
      ]),
    ),
  );
  let failed = 0;
  for (const reply of replies) {
    const outcome = decodeFailOrder(reply);
    switch (outcome.kind) {
      case 'failed':
        failed += 1;
        break;
      case 'already_decided':
      case 'missing':
        break;
    }
  }
  return failed;
}
