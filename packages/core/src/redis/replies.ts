import type { Decision, OrderStatus, RejectReason } from '../orders/status.ts';

/**
 * What each Lua script answers (lua/*.lua headers), and the one decoder per script: the only code
 * that knows a script's reply codes. A script's reply is `unknown` everywhere else (scripts.ts), so
 * every caller goes through its decoder and switches on the union it returns.
 * A reply that matches no documented shape throws: the script and this module disagree, a bug.
 */

/**
 * lua/acceptBatch-n.lua, lua/claimBuyers-n.lua, lua/recordOrders-n.lua, lua/releaseBuyers-n.lua: the whole call's code;
 * otherwise each request's outcome is named by a string (or, for the give-back, counted).
 */
export const BatchCode = { invalidArguments: -3 } as const;
/** lua/commitOrders-n.lua: the whole call's code, or a section's. */
export const CommitOrdersCode = {
  decided: 0,
  staleFence: -1,
  invalidArguments: -2,
  unknownProduct: -3,
  lockHeld: -4,
} as const;
/** lua/acquireLock-2.lua; any other reply is the fencing token (≥ 1). */
export const AcquireLockCode = { held: -1 } as const;
/** lua/extendLock-1.lua, lua/deleteIfEquals-1.lua, lua/reopenOrder-3.lua */
export const DoneCode = { done: 1, notDone: 0 } as const;
/** lua/failOrder-4.lua */
export const FailOrderCode = { failed: 1, alreadyDecided: 0, missing: -1 } as const;
/** lua/settleHold-5.lua: the first entry of its reply. */
export const SettleHoldCode = [
  'changed',
  'unchanged',
  'hold_expired',
  'order_cancelled',
  'already_confirmed',
  'not_reserved',
  'not_found',
] as const;
/** lua/rateLimit-1.lua; a positive reply is the milliseconds until the window ends. */
export const RateLimitCode = { allowed: 0 } as const;

function unexpected(script: string, reply: unknown): Error {
  return new Error(`${script}: unexpected reply ${JSON.stringify(reply)}`);
}

/** The decoder of a script that answers one of a few codes, each an outcome with nothing more to say. */
function outcomeOf<Kind extends string>(
  script: string,
  codes: Record<Kind, number>,
): (reply: unknown) => { kind: Kind } {
  const outcomes = new Map<unknown, { kind: Kind }>();
  for (const kind of Object.keys(codes) as Kind[]) outcomes.set(codes[kind], Object.freeze({ kind }));
  return (reply) => {
    const outcome = outcomes.get(reply);
    if (!outcome) throw unexpected(script, reply);
    return outcome;
  };
}

const ORDER_STATUSES: ReadonlySet<unknown> = new Set<OrderStatus>([
  'queued',
  'reserved',
  'confirmed',
  'rejected',
  'cancelled',
  'expired',
]);
export const isOrderStatus = (value: unknown): value is OrderStatus => ORDER_STATUSES.has(value);
const isRejectReason = (value: unknown): value is RejectReason =>
  value === 'sold_out' || value === 'limit_exceeded' || value === 'processing_failed';

// ---- accepting a batch: the buyers' step, the products' step, the give-back

/** One request of the buyers' step (lua/claimBuyers-n.lua). */
export type ClaimedBuyer =
  | { kind: 'claimed' }
  | { kind: 'bound'; orderId: string }
  | { kind: 'reused' }
  | { kind: 'rate_limited'; retryInMs: number };
/** One order of the products' step (lua/recordOrders-n.lua). */
export type RecordedOrder =
  | { kind: 'new' }
  | { kind: 'existing'; status: OrderStatus }
  | { kind: 'unknown_product' }
  | { kind: 'sold_out' }
  | WindowRefusal;
/** A product outside its sale window: not open yet (for `opensInMs` more), or closed. */
export type WindowRefusal = { kind: 'not_open'; opensInMs: number } | { kind: 'closed' };
export type BatchReply<Item> = { kind: 'invalid_arguments' } | { kind: 'answered'; items: Item[] };

const frozen = <T>(value: T): T => Object.freeze(value);
const CLAIM_SIMPLE: Record<string, ClaimedBuyer> = {
  claimed: frozen({ kind: 'claimed' }),
  reused: frozen({ kind: 'reused' }),
};
const RECORD_SIMPLE: Record<string, RecordedOrder> = {
  new: frozen({ kind: 'new' }),
  unknown_product: frozen({ kind: 'unknown_product' }),
  sold_out: frozen({ kind: 'sold_out' }),
  closed: frozen({ kind: 'closed' }),
};

/** `'not_open', <ms>`: the one window refusal with a detail. */
function notOpen(code: unknown, detail: unknown): WindowRefusal | undefined {
  return code === 'not_open' && typeof detail === 'string' && Number(detail) > 0
    ? { kind: 'not_open', opensInMs: Number(detail) }
    : undefined;
}

/** A flat list of `[code, detail]` pairs, one per item, each read by `item` (undefined: not a documented pair). */
function decodePairs<Item>(
  script: string,
  reply: unknown,
  count: number,
  simple: Record<string, Item>,
  item: (code: unknown, detail: unknown) => Item | undefined,
): BatchReply<Item> {
  if (reply === BatchCode.invalidArguments) return { kind: 'invalid_arguments' };
  if (!Array.isArray(reply) || reply.length !== 2 * count) throw unexpected(script, reply);
  const flat = reply as unknown[];
  const items = new Array<Item>(count);
  for (let i = 0; i < count; i++) {
    const code = flat[2 * i];
    const detail = flat[2 * i + 1];
    const found =
      (typeof code === 'string' && Object.hasOwn(simple, code) ? simple[code] : undefined) ?? item(code, detail);
    if (found === undefined) throw unexpected(script, [code, detail]);
    items[i] = found;
  }
  return { kind: 'answered', items };
}

/** `count`: how many requests the call carried, in order. */
export const decodeClaimBuyers = (reply: unknown, count: number): BatchReply<ClaimedBuyer> =>
  decodePairs('claimBuyers', reply, count, CLAIM_SIMPLE, (code, detail) => {
    if (code === 'bound' && typeof detail === 'string' && detail.length > 0) return { kind: 'bound', orderId: detail };
    if (code === 'rate_limited' && typeof detail === 'string' && Number(detail) > 0)
      return { kind: 'rate_limited', retryInMs: Number(detail) };
    return undefined;
  });

/** `count`: how many orders the call carried, over all its sections, in order. */
export const decodeRecordOrders = (reply: unknown, count: number): BatchReply<RecordedOrder> =>
  decodePairs('recordOrders', reply, count, RECORD_SIMPLE, (code, detail) =>
    code === 'existing' && isOrderStatus(detail) ? { kind: 'existing', status: detail } : notOpen(code, detail),
  );

/** One order of lua/acceptBatch-n.lua: the whole accept of a batch in one call (a single Redis). */
export type AcceptBatchOrder =
  RecordedOrder | { kind: 'bound'; orderId: string } | { kind: 'reused' } | { kind: 'rate_limited'; retryInMs: number };
const ACCEPT_SIMPLE: Record<string, AcceptBatchOrder> = { ...RECORD_SIMPLE, reused: frozen({ kind: 'reused' }) };

/** `count`: how many orders the call carried, over all its sections, in order. */
export const decodeAcceptBatch = (reply: unknown, count: number): BatchReply<AcceptBatchOrder> =>
  decodePairs('acceptBatch', reply, count, ACCEPT_SIMPLE, (code, detail): AcceptBatchOrder | undefined => {
    if (code === 'existing' && isOrderStatus(detail)) return { kind: 'existing', status: detail };
    if (code === 'bound' && typeof detail === 'string' && detail.length > 0) return { kind: 'bound', orderId: detail };
    if (code === 'rate_limited' && typeof detail === 'string' && Number(detail) > 0)
      return { kind: 'rate_limited', retryInMs: Number(detail) };
    return notOpen(code, detail);
  });

/** One product as lua/readStock-n.lua reads it: its units left (undefined: no such product), and its window's refusal if any. */
export interface StockRead {
  stock: number | undefined;
  window?: WindowRefusal;
}

/** lua/readStock-n.lua: each product's units left and sale window, in the order of the keys. */
export function decodeReadStock(reply: unknown, count: number): StockRead[] {
  if (!Array.isArray(reply) || reply.length !== 2 * count) throw unexpected('readStock', reply);
  const flat = reply as unknown[];
  return Array.from({ length: count }, (_, i) => {
    const [stock, window] = [flat[2 * i], flat[2 * i + 1]];
    if (stock !== null && !(typeof stock === 'string' && /^-?\d+$/.test(stock))) throw unexpected('readStock', reply);
    const read: StockRead = { stock: stock === null ? undefined : Number(stock) };
    if (window === '') return read;
    const refusal = window === 'closed' ? RECORD_SIMPLE.closed : notOpen('not_open', window);
    if (!refusal || (refusal.kind !== 'closed' && refusal.kind !== 'not_open')) throw unexpected('readStock', reply);
    return { ...read, window: refusal };
  });
}

/** lua/releaseBuyers-n.lua: how many requests were given back. */
export function decodeReleaseBuyers(reply: unknown): BatchReply<never> | { kind: 'released'; count: number } {
  if (reply === BatchCode.invalidArguments) return { kind: 'invalid_arguments' };
  if (typeof reply === 'number' && reply >= 0) return { kind: 'released', count: reply };
  throw unexpected('releaseBuyers', reply);
}

// ---- commitOrders

/** One order of a decided section: its decision (applied: made by this call), or refused as malformed or unrecorded. */
export type CommittedOrder =
  { kind: 'decided'; decision: Decision; applied: boolean } | { kind: 'invalid' } | { kind: 'unknown' };
/** One product's section: decided order by order, or refused as a whole (nothing of it changed). */
export type CommittedSection =
  | { kind: 'decided'; orders: CommittedOrder[] }
  | { kind: 'stale_fence' }
  | { kind: 'unknown_product' }
  | { kind: 'lock_held' };
export type CommitOrdersReply = { kind: 'invalid_arguments' } | { kind: 'sections'; sections: CommittedSection[] };

const CONFIRMED: Decision = Object.freeze({ status: 'confirmed' });
const INVALID: CommittedOrder = Object.freeze({ kind: 'invalid' });
const UNKNOWN: CommittedOrder = Object.freeze({ kind: 'unknown' });
const STALE_FENCE: CommittedSection = Object.freeze({ kind: 'stale_fence' });
const UNKNOWN_PRODUCT: CommittedSection = Object.freeze({ kind: 'unknown_product' });
const LOCK_HELD: CommittedSection = Object.freeze({ kind: 'lock_held' });

/** `orderCounts`: how many orders each section of the call carried, in order. */
export function decodeCommitOrders(reply: unknown, orderCounts: readonly number[]): CommitOrdersReply {
  if (reply === CommitOrdersCode.invalidArguments) return { kind: 'invalid_arguments' };
  const expected = orderCounts.reduce((n, count) => n + 1 + 3 * count, 0);
  if (!Array.isArray(reply) || reply.length !== expected) throw unexpected('commitOrders', reply);
  const flat = reply as unknown[];
  let at = 0;
  const sections = orderCounts.map((count): CommittedSection => {
    const code = flat[at];
    const start = at + 1;
    at = start + 3 * count;
    switch (code) {
      case CommitOrdersCode.staleFence:
        return STALE_FENCE;
      case CommitOrdersCode.unknownProduct:
        return UNKNOWN_PRODUCT;
      case CommitOrdersCode.lockHeld:
        return LOCK_HELD;
      case CommitOrdersCode.decided:
        break;
      default:
        throw unexpected('commitOrders', code);
    }
    const orders = new Array<CommittedOrder>(count);
    for (let i = 0; i < count; i++) {
      const status = flat[start + 3 * i];
      const reason = flat[start + 3 * i + 1];
      const applied = flat[start + 3 * i + 2] === 1;
      if (status === 'invalid') orders[i] = INVALID;
      else if (status === 'unknown') orders[i] = UNKNOWN;
      else if (status === 'confirmed') orders[i] = { kind: 'decided', decision: CONFIRMED, applied };
      else if (status === 'reserved' && typeof reason === 'string' && /^\d+$/.test(reason))
        orders[i] = { kind: 'decided', decision: { status, holdExpiresAt: Number(reason) }, applied };
      else if (status === 'rejected' && isRejectReason(reason))
        orders[i] = { kind: 'decided', decision: { status, reason }, applied };
      else throw unexpected('commitOrders', [status, reason]);
    }
    return { kind: 'decided', orders };
  });
  return { kind: 'sections', sections };
}

// ---- locks

export type AcquireLockReply = { kind: 'acquired'; fence: number } | { kind: 'held' };

export function decodeAcquireLock(reply: unknown): AcquireLockReply {
  if (reply === AcquireLockCode.held) return { kind: 'held' };
  if (typeof reply === 'number' && Number.isInteger(reply) && reply >= 1) return { kind: 'acquired', fence: reply };
  throw unexpected('acquireLock', reply);
}

export const decodeExtendLock = outcomeOf('extendLock', { extended: DoneCode.done, lost: DoneCode.notDone });
export type ExtendLockReply = ReturnType<typeof decodeExtendLock>;

export const decodeDeleteIfEquals = outcomeOf('deleteIfEquals', { deleted: DoneCode.done, not_ours: DoneCode.notDone });
export type DeleteIfEqualsReply = ReturnType<typeof decodeDeleteIfEquals>;

/** lua/appendBacklog-2.lua: the backlog's length after the append, and what it dropped (this call, in all). */
export interface AppendBacklogReply {
  pending: number;
  dropped: number;
  droppedTotal: number;
}

export function decodeAppendBacklog(reply: unknown): AppendBacklogReply {
  const counts = Array.isArray(reply) && reply.length === 3 && reply.every((n) => Number.isSafeInteger(n) && n >= 0);
  if (!counts) throw unexpected('appendBacklog', reply);
  const [pending, dropped, droppedTotal] = reply as number[];
  return { pending: pending!, dropped: dropped!, droppedTotal: droppedTotal! };
}

// ---- orders

/** What ending an undecided order did: ended it now, found it decided (left as it was), or found none. */
export const decodeFailOrder = outcomeOf('failOrder', {
  failed: FailOrderCode.failed,
  already_decided: FailOrderCode.alreadyDecided,
  missing: FailOrderCode.missing,
});
export type FailOrderReply = ReturnType<typeof decodeFailOrder>;

export const decodeReopenOrder = outcomeOf('reopenOrder', { reopened: DoneCode.done, unchanged: DoneCode.notDone });
export type ReopenOrderReply = ReturnType<typeof decodeReopenOrder>;

// ---- products and limits

/** lua/setProduct-2.lua; any other reply is the product's fields. */
export const SetProductCode = { preconditionFailed: -1, invalidWindow: -2 } as const;
/** lua/adjustStock-1.lua; any other reply is the product's fields. */
export const AdjustStockCode = { unknownProduct: -1, insufficientStock: -2 } as const;

/**
 * A product's fields as the scripts answer them: stock, sold, perUserLimit (0: none), its window
 * (epoch ms, null: none), holdSeconds (null: none) and the units held now (null: none ever).
 */
export type ProductFields = {
  stock: string;
  sold: string;
  perUserLimit: string;
  opensAt: string | null;
  closesAt: string | null;
  holdSeconds: string | null;
  reserved: string | null;
  /** lua/lib/productVersion.lua; null for a product no script has changed since versions began. */
  version: string | null;
};

function productFields(script: string, reply: unknown): ProductFields {
  const fields = reply as unknown[];
  if (
    !Array.isArray(reply) ||
    reply.length !== 8 ||
    !fields.slice(0, 3).every((field) => typeof field === 'string') ||
    !fields.slice(3).every((field) => field === null || typeof field === 'string')
  )
    throw unexpected(script, reply);
  const [stock, sold, perUserLimit, opensAt, closesAt, holdSeconds, reserved, version] = reply as [
    string,
    string,
    string,
    string | null,
    string | null,
    string | null,
    string | null,
    string | null,
  ];
  return { stock, sold, perUserLimit, opensAt, closesAt, holdSeconds, reserved, version };
}

export type SetProductReply =
  ({ kind: 'set' } & ProductFields) | { kind: 'precondition_failed' } | { kind: 'invalid_window' };

export function decodeSetProduct(reply: unknown): SetProductReply {
  if (reply === SetProductCode.preconditionFailed) return { kind: 'precondition_failed' };
  if (reply === SetProductCode.invalidWindow) return { kind: 'invalid_window' };
  return { kind: 'set', ...productFields('setProduct', reply) };
}

export type AdjustStockReply =
  ({ kind: 'adjusted' } & ProductFields) | { kind: 'unknown_product' } | { kind: 'insufficient_stock' };

export function decodeAdjustStock(reply: unknown): AdjustStockReply {
  if (reply === AdjustStockCode.unknownProduct) return { kind: 'unknown_product' };
  if (reply === AdjustStockCode.insufficientStock) return { kind: 'insufficient_stock' };
  return { kind: 'adjusted', ...productFields('adjustStock', reply) };
}

export type RateLimitReply = { kind: 'allowed' } | { kind: 'refused'; retryInMs: number };

const ALLOWED: RateLimitReply = Object.freeze({ kind: 'allowed' });

export function decodeRateLimit(reply: unknown): RateLimitReply {
  if (reply === RateLimitCode.allowed) return ALLOWED;
  if (typeof reply === 'number' && reply > 0) return { kind: 'refused', retryInMs: reply };
  throw unexpected('rateLimit', reply);
}

/** lua/rateLimits-n.lua: for each counter, its count after the call and the milliseconds left in its window. */
export function decodeRateLimits(reply: unknown, counters: number): { count: number; ttlMs: number }[] {
  if (!Array.isArray(reply) || reply.length !== 2 * counters) throw unexpected('rateLimits', reply);
  const flat = reply as unknown[];
  return Array.from({ length: counters }, (_, i) => {
    const count = flat[2 * i];
    const ttlMs = flat[2 * i + 1];
    if (typeof count !== 'number' || typeof ttlMs !== 'number' || count < 1 || ttlMs < 1)
      throw unexpected('rateLimits', reply);
    return { count, ttlMs };
  });
}

// ---- holds

export type SettleHoldReply =
  | { kind: 'not_found' }
  | { kind: Exclude<(typeof SettleHoldCode)[number], 'not_found'>; fields: Record<string, string> };

export function decodeSettleHold(reply: unknown): SettleHoldReply {
  if (!Array.isArray(reply)) throw unexpected('settleHold', reply);
  const [code, flat] = reply as [unknown, unknown];
  if (code === 'not_found') return { kind: 'not_found' };
  const kind = SettleHoldCode.find((known) => known === code);
  if (!kind || kind === 'not_found' || !Array.isArray(flat)) throw unexpected('settleHold', reply);
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[String(flat[i])] = String(flat[i + 1]);
  return { kind, fields };
}

/** lua/expireHolds-4.lua: units given back, holds looked at, the earliest deadline left (null: none). */
export interface ExpireHoldsReply {
  units: number;
  looked: number;
  nextDueAt: number | null;
}

export function decodeExpireHolds(reply: unknown): ExpireHoldsReply {
  if (!Array.isArray(reply) || reply.length !== 3) throw unexpected('expireHolds', reply);
  const [units, looked, next] = reply as unknown[];
  if (typeof units !== 'number' || typeof looked !== 'number' || typeof next !== 'string')
    throw unexpected('expireHolds', reply);
  return { units, looked, nextDueAt: next === '' ? null : Number(next) };
}
