import type { Redis } from 'ioredis';
import { AppError } from '../errors/appError.ts';
import type { Keys } from '../keys/keys.ts';
import type { OrderJob } from '../queue/ordersQueue.ts';
import type { Decision, RejectReason } from './order.ts';

export interface CommitResult {
  decision: Decision;
  /** False when the order had been decided before (a replay): nothing changed this time. */
  applied: boolean;
}

export interface CommitRules {
  maxQuantity: number;
  /** How long a decided order is kept before it expires. */
  orderRetentionMs: number;
  /** Negative controls of the fault tests only (FLASHLINE_BREAK): safety checks switched off. */
  brokenOnPurpose?: readonly ('idempotency' | 'fencing')[];
}

/**
 * Decides a batch of orders of one product in one atomic Lua call (lua/commitOrders-n.lua):
 * idempotent per order, refused as a whole for a stale fencing token, never below zero stock, within
 * the per-user limit. Returns one result per order, in order: a CommitResult, or an AppError
 * (`invalid_request`) for an order whose arguments are malformed or contradict the stored order.
 * A stale fence or an unknown product throws: nothing was decided.
 */
export async function commitOrders(
  redis: Redis,
  keys: Keys,
  productId: string,
  orders: readonly OrderJob[],
  fence: number,
  rules: CommitRules,
): Promise<(CommitResult | AppError)[]> {
  const results = await runCommit(redis, keys, productId, orders, fence, rules);
  if (results === 'lock_held') throw new Error('commitOrders: a commit with a fence was refused as lock_held');
  return results;
}

/**
 * The same commit for a caller that holds no lease: the script claims the product's lock itself
 * when it is free, and releases it in the same atomic call (one round trip instead of acquire,
 * commit and release). Null when another holder has the lock: the caller takes it the slow way.
 */
export async function claimAndCommit(
  redis: Redis,
  keys: Keys,
  productId: string,
  orders: readonly OrderJob[],
  rules: CommitRules,
): Promise<(CommitResult | AppError)[] | null> {
  const results = await runCommit(redis, keys, productId, orders, 'claim', rules);
  return results === 'lock_held' ? null : results;
}

async function runCommit(
  redis: Redis,
  keys: Keys,
  productId: string,
  orders: readonly OrderJob[],
  fence: number | 'claim',
  rules: CommitRules,
): Promise<(CommitResult | AppError)[] | 'lock_held'> {
  const broken = rules.brokenOnPurpose ?? [];
  const orderKeys = orders.map((order) => keys.order(productId, order.orderId));
  const reply = await redis.commitOrders(
    5 + orders.length,
    keys.product(productId),
    keys.buyers(productId),
    keys.fence(productId),
    keys.pending(productId),
    keys.lock(productId),
    ...orderKeys,
    productId,
    fence,
    Date.now(),
    rules.maxQuantity,
    (broken.includes('idempotency') ? 'i' : '') + (broken.includes('fencing') ? 'f' : ''),
    rules.orderRetentionMs,
    ...orders.flatMap((order) => [order.userId, order.quantity]),
  );
  if (reply === -1) throw new AppError('lease_lost', `fencing token ${fence} for product ${productId} is stale`);
  if (reply === -2) throw new AppError('invalid_request', `a commit for product ${productId} had invalid arguments`);
  if (reply === -3) throw new AppError('unknown_product', `product ${productId} does not exist`);
  if (reply === -4) return 'lock_held';
  if (typeof reply === 'number' || reply.length !== orders.length * 3) throw new Error(`commitOrders: unexpected reply ${JSON.stringify(reply)}`);
  return orders.map((order, i) => {
    const [status, reason, applied] = reply.slice(i * 3, i * 3 + 3);
    if (status === 'invalid') return new AppError('invalid_request', `order ${order.orderId} has invalid or contradicting arguments`);
    const decision: Decision = status === 'confirmed' ? { status } : { status: 'rejected', reason: reason as RejectReason };
    return { decision, applied: applied === 1 };
  });
}

/** One order: `commitOrders` with a batch of one; an invalid order throws. */
export async function commitOrder(redis: Redis, keys: Keys, order: OrderJob, fence: number, rules: CommitRules): Promise<CommitResult> {
  const [result] = await commitOrders(redis, keys, order.productId, [order], fence, rules);
  if (result instanceof AppError) throw result;
  return result!;
}
