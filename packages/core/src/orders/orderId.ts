import { randomFillSync } from 'node:crypto';
import { idSchema } from './schemas.ts';

/**
 * An order id names its product (`<productId>.<random>`): the order lives under the product's
 * hash tag, so the commit touches one Cluster slot, and `GET /orders/:id` finds it in one read.
 * `.` never occurs in a product id, so the split is unambiguous.
 */
export function newOrderId(productId: string): string {
  return `${productId}.${randomChunk().toString('base64url')}`;
}

// 96 random bits per id, drawn from a pool filled 256 ids at a time: one call into the CSPRNG per
// 256 orders instead of one per order, off the accept path's hot loop.
const ID_BYTES = 12;
const pool = Buffer.alloc(ID_BYTES * 256);
let offset = pool.length;
function randomChunk(): Buffer {
  if (offset === pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  offset += ID_BYTES;
  return pool.subarray(offset - ID_BYTES, offset);
}

/** The product id inside an order id, or null when the id is not one of ours. */
export function productOfOrder(orderId: string): string | null {
  const dot = orderId.lastIndexOf('.');
  if (dot <= 0) return null;
  const productId = orderId.slice(0, dot);
  const random = orderId.slice(dot + 1);
  if (!idSchema.safeParse(productId).success || !/^[A-Za-z0-9_-]{16}$/.test(random)) return null;
  return productId;
}

/** A batch job's id: `batch~<random>`. `~` occurs in no product or order id, so it is never taken for an order's. */
export function newBatchId(): string {
  return `batch~${randomChunk().toString('base64url')}`;
}
