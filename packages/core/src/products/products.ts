import type { Redis } from 'ioredis';
import type { Keys } from '../keys/keys.ts';
import type { ProductUpdate } from '../orders/schemas.ts';
import { decodeSetProduct } from '../redis/replies.ts';

export interface Product {
  productId: string;
  /** Units left to sell. */
  stock: number;
  sold: number;
  /** Most units one user may buy; null for no limit. */
  perUserLimit: number | null;
}

function toProduct(productId: string, [stock, sold, limit]: (string | null)[]): Product | null {
  if (stock == null) return null;
  const perUserLimit = Number(limit ?? 0);
  return {
    productId,
    stock: Number(stock),
    sold: Number(sold ?? 0),
    perUserLimit: perUserLimit > 0 ? perUserLimit : null,
  };
}

/** Sets the sellable stock (a restock or a correction); an absent perUserLimit keeps the current one, null removes it. */
export async function setProduct(redis: Redis, keys: Keys, productId: string, update: ProductUpdate): Promise<Product> {
  const limit = update.perUserLimit === undefined ? '' : (update.perUserLimit ?? 0);
  const [reply] = await Promise.all([
    redis.setProduct([keys.product(productId), update.stock, limit]),
    // Outside the script: the registry is global, the product's keys are in the product's slot.
    redis.sadd(keys.products(), productId),
  ]);
  const { stock, sold, perUserLimit } = decodeSetProduct(reply);
  return toProduct(productId, [stock, sold, perUserLimit])!;
}

export async function getProduct(redis: Redis, keys: Keys, productId: string): Promise<Product | null> {
  return toProduct(productId, await redis.hmget(keys.product(productId), 'stock', 'sold', 'perUserLimit'));
}
