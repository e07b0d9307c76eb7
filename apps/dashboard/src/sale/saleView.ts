import { AppError } from '@flashline/core';
import type { ProductRow, SaleSnapshot } from './saleSnapshot.ts';

export const SORTS = ['activity', 'stock', 'sold', 'queued', 'name'] as const;
export type Sort = (typeof SORTS)[number];

/** What one client asked to see: a search, an order and how many rows. */
export interface ViewQuery {
  q: string;
  sort: Sort;
  limit: number;
}

export const MAX_ROWS = 200;

const bySort: Record<Sort, (a: ProductRow, b: ProductRow) => number> = {
  activity: (a, b) => b.decisionsPerSecond - a.decisionsPerSecond || b.queued - a.queued,
  // The nearly sold-out first: what an operator watches during a sale.
  stock: (a, b) => a.stock - b.stock,
  sold: (a, b) => b.sold - a.sold,
  queued: (a, b) => b.queued - a.queued,
  name: () => 0,
};

/** Parses `?q=&sort=&limit=`; a bad value is a 400 that names it. */
export function parseViewQuery(query: Record<string, unknown>): ViewQuery {
  const { q = '', sort = 'activity', limit = '50' } = query;
  if (typeof q !== 'string' || !/^[A-Za-z0-9_-]{0,64}$/.test(q))
    throw new AppError('invalid_request', 'q: up to 64 letters, digits, _ or - (a part of a product id)');
  if (typeof sort !== 'string' || !(SORTS as readonly string[]).includes(sort))
    throw new AppError('invalid_request', `sort: one of ${SORTS.join(', ')}`);
  const rows = typeof limit === 'string' && /^\d{1,3}$/.test(limit) ? Number(limit) : NaN;
  if (!(rows >= 1 && rows <= MAX_ROWS))
    throw new AppError('invalid_request', `limit: an integer from 1 to ${MAX_ROWS}`);
  return { q: q.toLowerCase(), sort: sort as Sort, limit: rows };
}

/** What one client is sent: the shared snapshot cut down to its search, order and row count. */
export function viewOf(snapshot: SaleSnapshot, query: ViewQuery) {
  const { products, ...shared } = snapshot;
  const matched = query.q ? products.filter((row) => row.productId.toLowerCase().includes(query.q)) : products;
  const compare = bySort[query.sort];
  const rows = [...matched]
    .sort((a, b) => compare(a, b) || a.productId.localeCompare(b.productId))
    .slice(0, query.limit);
  return { ...shared, matched: matched.length, rows };
}

export type SaleView = ReturnType<typeof viewOf>;
