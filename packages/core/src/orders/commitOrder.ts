import type { RedisClient } from '../redis/connect.ts';
import type { Keys } from '../keys/keys.ts';
import type { OrderJob } from '../queue/ordersQueue.ts';
import { decodeCommitOrders, type CommitOrdersReply } from '../redis/replies.ts';
import type { Decision } from './order.ts';
import { waitForReplicas, type Replication } from '../redis/replication.ts';

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
  brokenOnPurpose?: readonly ('idempotency' | 'fencing' | 'holds')[];
  /** REDIS_WAIT_REPLICAS: a commit returns only once this many replicas hold it (none by default). */
  replication?: Replication;
  /** The system's webhooks are on: each decision is written to its group's webhook outbox in the same script (read at each commit). */
  readonly events?: boolean;
}

/** The orders of one product in a commit, and how the commit holds the product's lock. */
export interface CommitSection {
  productId: string;
  orders: readonly OrderJob[];
  /** The fencing token of the caller's lease, or 'claim': the script claims the free lock itself. */
  fence: number | 'claim';
}

/**
 * Decides the orders of one or several products in one atomic script call (lua/commitOrders-n.lua):
 * idempotent per order, never below zero stock, within the per-user limit. The products must share
 * a group (`keys.group`), so that the call stays in one Cluster slot. Each section is decided or
 * refused on its own (a stale fence, an unknown product, a claim that found the lock held), and a
 * refused section changed nothing; the reply says which, section by section, in order. With
 * `rules.replication`, it returns once the replicas hold the commit, and rejects (`unavailable`) when
 * they do not in time: the job fails and is retried, and the replay finds the orders decided.
 */
export async function commitSections(
  redis: RedisClient,
  keys: Keys,
  sections: readonly CommitSection[],
  rules: CommitRules,
): Promise<CommitOrdersReply> {
  const group = keys.group(sections[0]!.productId);
  if (sections.some((s) => keys.group(s.productId) !== group))
    throw new Error('commitSections: the products of one commit must share a group');
  const broken = rules.brokenOnPurpose ?? [];
  // One array, filled in place and passed whole: numkeys, every key, then every argument. ioredis
  // copies it once, where spread arguments are copied twice more (a commit of 64 products holds ~700).
  const keyCount = 1 + sections.reduce((n, s) => n + 6 + s.orders.length, 0);
  const call = new Array<string | number>(1 + keyCount + 6 + sections.reduce((n, s) => n + 3 + 2 * s.orders.length, 0));
  call[0] = keyCount;
  let k = 1;
  let a = 1 + keyCount;
  call[a++] = Date.now();
  call[a++] = rules.maxQuantity;
  call[a++] = (broken.includes('idempotency') ? 'i' : '') + (broken.includes('fencing') ? 'f' : '');
  call[a++] = rules.orderRetentionMs;
  call[a++] = sections.length;
  call[a++] = rules.events ? '1' : '';
  for (const { productId, orders, fence } of sections) {
    call[k++] = keys.product(productId);
    call[k++] = keys.buyers(productId);
    call[k++] = keys.fence(productId);
    call[k++] = keys.pending(productId);
    call[k++] = keys.lock(productId);
    call[k++] = keys.holds(productId);
    call[a++] = productId;
    call[a++] = fence;
    call[a++] = orders.length;
    for (const order of orders) {
      call[k++] = keys.order(productId, order.orderId);
      call[a++] = order.userId;
      call[a++] = order.quantity;
    }
  }
  call[k] = keys.outbox(group);
  const reply = await redis.commitOrders(call);
  // A decision is answered (its job completed, the buyer told) only once it would outlive its master.
  if (rules.replication) await waitForReplicas(redis, keys, [keys.product(sections[0]!.productId)], rules.replication);
  return decodeCommitOrders(
    reply,
    sections.map((section) => section.orders.length),
  );
}
