import type { RedisClient } from '../redis/connect.ts';
import { pipelineBySlot } from '../redis/slotPipeline.ts';
import type { Keys } from '../keys/keys.ts';
import type { RejectReason } from '../orders/order.ts';

/** What operators watch per product during a sale: the sale panel and /metrics read this. */
export interface ProductStats {
  productId: string;
  stock: number;
  sold: number;
  /** Orders accepted (202) so far. */
  accepted: number;
  /** Orders accepted and not decided yet. */
  queued: number;
  /** Orders confirmed at their decision (a product without holdSeconds). */
  confirmed: number;
  rejected: Record<RejectReason, number>;
  /** Units held now, waiting for payment. */
  reserved: number;
  /** Orders won with a hold (holdSeconds), whatever became of the hold since. */
  held: number;
  /** Units of holds, by how they ended so far: every unit ever held, those paid, expired and cancelled. */
  holds: HoldUnits;
}

export interface HoldUnits {
  units: number;
  paid: number;
  expired: number;
  cancelled: number;
}

const REASONS: readonly RejectReason[] = ['sold_out', 'limit_exceeded', 'processing_failed'];
const HOLD_FIELDS = ['reserved', 'held', 'holds:units', 'holds:paid', 'holds:expired', 'holds:cancelled'];
const FIELDS = [
  'stock',
  'sold',
  'accepted',
  'confirmed',
  ...REASONS.map((reason) => `rejected:${reason}`),
  ...HOLD_FIELDS,
];

/**
 * Reads the counters the Lua scripts keep in each product hash (acceptOrder, commitOrders,
 * failOrder), in one pipeline: one round trip for any number of products. Unknown products are left out.
 */
export async function getProductStats(
  redis: RedisClient,
  keys: Keys,
  productIds: readonly string[],
): Promise<ProductStats[]> {
  if (productIds.length === 0) return [];
  const replies = await pipelineBySlot(redis, productIds, keys.product, (pipeline, productId) =>
    pipeline.hmget(keys.product(productId), ...FIELDS).zcard(keys.pending(productId)),
  );
  const stats: ProductStats[] = [];
  productIds.forEach((productId, i) => {
    const [[fieldsError, fields] = [null, []], [queuedError, queued] = [null, 0]] = replies[i]!;
    const error = fieldsError ?? queuedError;
    if (error) throw error;
    const values = (fields as (string | null)[]).map((value) => Number(value ?? 0));
    if ((fields as (string | null)[])[0] == null) return;
    const [stock = 0, sold = 0, accepted = 0, confirmed = 0, soldOut = 0, limit = 0, failed = 0] = values;
    const [reserved = 0, held = 0, units = 0, paid = 0, expired = 0, cancelled = 0] = values.slice(7);
    stats.push({
      productId,
      stock,
      sold,
      accepted,
      queued: Number(queued),
      confirmed,
      rejected: { sold_out: soldOut, limit_exceeded: limit, processing_failed: failed },
      reserved,
      held,
      holds: { units, paid, expired, cancelled },
    });
  });
  return stats;
}
