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

/** The orders of one product in a commit, and how the commit holds the product's lock. */
export interface CommitSection {
  productId: string;
  orders: readonly OrderJob[];
  /** The fencing token of the caller's lease, or 'claim': the script claims the free lock itself. */
  fence: number | 'claim';
}

/**
 * What a commit did with one section: one result per order, in order (a CommitResult, or an
 * AppError `invalid_request` for an order whose arguments are malformed or contradict the stored
 * order); or the section was refused and changed nothing: an AppError (`lease_lost` for a stale
 * fence, `unknown_product`), or 'lock_held' when a claim found the lock held.
 */
export type SectionOutcome = (CommitResult | AppError)[] | AppError | 'lock_held';

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
  const [outcome] = await commitSections(redis, keys, [{ productId, orders, fence }], rules);
  if (outcome instanceof AppError) throw outcome;
  if (!Array.isArray(outcome)) throw new Error('commitOrders: a commit with a fence was refused as lock_held');
  return outcome;
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
  const [outcome] = await commitSections(redis, keys, [{ productId, orders, fence: 'claim' }], rules);
  if (outcome instanceof AppError) throw outcome;
  return outcome === 'lock_held' ? null : outcome!;
}

/**
 * Commits several products' orders in one script call: the products must share a group
 * (`keys.group`), so that the call stays in one Cluster slot. Each section is decided or refused
 * on its own; one outcome per section, in order. Throws only for a call Redis refused as a whole.
 */
export async function commitSections(
  redis: Redis,
  keys: Keys,
  sections: readonly CommitSection[],
  rules: CommitRules,
): Promise<SectionOutcome[]> {
  const group = keys.group(sections[0]!.productId);
  if (sections.some((s) => keys.group(s.productId) !== group))
    throw new Error('commitSections: the products of one commit must share a group');
  const broken = rules.brokenOnPurpose ?? [];
  // One array, filled in place and passed whole: numkeys, every key, then every argument. ioredis
  // copies it once; spread arguments were copied twice more, and a commit of 64 products holds about
  // 700: passing the array took a fifth off this process' CPU for such a commit (measured).
  const keyCount = sections.reduce((n, s) => n + 5 + s.orders.length, 0);
  const call = new Array<string | number>(1 + keyCount + 5 + sections.reduce((n, s) => n + 3 + 2 * s.orders.length, 0));
  call[0] = keyCount;
  let k = 1;
  let a = 1 + keyCount;
  call[a++] = Date.now();
  call[a++] = rules.maxQuantity;
  call[a++] = (broken.includes('idempotency') ? 'i' : '') + (broken.includes('fencing') ? 'f' : '');
  call[a++] = rules.orderRetentionMs;
  call[a++] = sections.length;
  for (const { productId, orders, fence } of sections) {
    call[k++] = keys.product(productId);
    call[k++] = keys.buyers(productId);
    call[k++] = keys.fence(productId);
    call[k++] = keys.pending(productId);
    call[k++] = keys.lock(productId);
    call[a++] = productId;
    call[a++] = fence;
    call[a++] = orders.length;
    for (const order of orders) {
      call[k++] = keys.order(productId, order.orderId);
      call[a++] = order.userId;
      call[a++] = order.quantity;
    }
  }
  const reply = await redis.commitOrders(call);
  const expected = sections.reduce((n, s) => n + 1 + 3 * s.orders.length, 0);
  if (reply === -2)
    throw new AppError(
      'invalid_request',
      `a commit for product ${sections.map((s) => s.productId).join(', ')} had invalid arguments`,
    );
  if (typeof reply === 'number' || reply.length !== expected)
    throw new Error(`commitOrders: unexpected reply ${JSON.stringify(reply)}`);
  let at = 0;
  return sections.map(({ productId, orders, fence }) => {
    const code = reply[at];
    const start = at + 1;
    at = start + 3 * orders.length;
    if (code === -1) return new AppError('lease_lost', `fencing token ${fence} for product ${productId} is stale`);
    if (code === -3) return new AppError('unknown_product', `product ${productId} does not exist`);
    if (code === -4) return 'lock_held';
    if (code !== 0) throw new Error(`commitOrders: unexpected section code ${JSON.stringify(code)}`);
    return orders.map((order, i) => {
      const status = reply[start + 3 * i];
      const reason = reply[start + 3 * i + 1];
      const applied = reply[start + 3 * i + 2];
      if (status === 'invalid')
        return new AppError('invalid_request', `order ${order.orderId} has invalid or contradicting arguments`);
      const decision: Decision =
        status === 'confirmed' ? { status } : { status: 'rejected', reason: reason as RejectReason };
      return { decision, applied: applied === 1 };
    });
  });
}

/** One order: `commitOrders` with a batch of one; an invalid order throws. */
export async function commitOrder(
  redis: Redis,
  keys: Keys,
  order: OrderJob,
  fence: number,
  rules: CommitRules,
): Promise<CommitResult> {
  const [result] = await commitOrders(redis, keys, order.productId, [order], fence, rules);
  if (result instanceof AppError) throw result;
  return result!;
}
