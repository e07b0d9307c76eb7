import type { Keys } from '../keys/keys.ts';
import type { RedisClient } from '../redis/connect.ts';
import { waitUntilReady } from '../redis/connect.ts';
import { pipelineBySlot } from '../redis/slotPipeline.ts';
import { isDecided } from './decisions.ts';
import { orderFromFields, type Order } from './order.ts';
import { productOfOrder } from './orderId.ts';

/**
 * How a wait ended: a message (or the look after a reconnection) found the order decided and read it
 * (`read`); or its time is up, or the process is shutting down (`due`: read it once and answer);
 * or the client went away (`gone`: answer nothing, read nothing).
 */
export type Woken = { kind: 'read'; order: Order | null } | { kind: 'due' } | { kind: 'gone' };

/** One waiting request, as the registry holds it: its order id and how to wake it. */
export interface Waiting {
  readonly orderId: string;
  readonly woken: Promise<Woken>;
  /** Ends the wait at once (the client has gone, or the request answered): idempotent. */
  cancel: () => void;
}

interface Waiter {
  readonly orderId: string;
  readonly address: string;
  wake: (woken: Woken) => void;
}

export interface OrderWaitersDeps {
  redis: RedisClient;
  keys: Keys;
  /** Most requests waiting at once in this process (ORDER_WAIT_MAX); past it `add` refuses. */
  max: number;
  /**
   * Most waiting at once on one order (ORDER_WAIT_MAX_PER_ORDER) and from one client address
   * (ORDER_WAIT_MAX_PER_IP), so one client cannot take every place by waiting on its own order many
   * times; past either `add` refuses. 0: no cap.
   */
  maxPerOrder: number;
  maxPerAddress: number;
  /** A batched read that failed: the requests it was for wait on, to their deadline at worst. */
  onReadError?: (error: unknown) => void;
}

/**
 * The requests of this API process waiting for their orders' decisions (`GET /orders/:id?wait=`),
 * by order id. A waiter costs no Redis call while it waits: the one subscription of the process
 * (redis/subscriber.ts) hands every message to `decided`, which reads the orders it names that
 * someone waits on (one batched read for the message) and wakes their waiters; a timer wakes each
 * at its deadline. The caller registers before its first read, so a decision landing between the
 * read and the registration still reaches it. After the subscription comes back from a
 * reconnection, `recheck` reads every waited-on order once, batched: a message published while it
 * was down is lost, the decision it told of is not.
 */
export class OrderWaiters {
  private readonly byOrder = new Map<string, Set<Waiter>>();
  /** Waits per client address; an address is dropped when its last wait ends, so at most `max` entries. */
  private readonly byAddress = new Map<string, number>();
  private waiting = 0;
  private closed = false;

  constructor(private readonly deps: OrderWaitersDeps) {}

  /** Requests waiting now. */
  get size(): number {
    return this.waiting;
  }

  /**
   * Registers a wait of `waitMs` on `orderId` from `address`; undefined when `max` requests already
   * wait, or as many as allowed on that order or from that address (or shutting down).
   */
  add(orderId: string, waitMs: number, address: string): Waiting | undefined {
    if (this.closed || this.waiting >= this.deps.max) return undefined;
    const { maxPerOrder, maxPerAddress } = this.deps;
    const fromAddress = this.byAddress.get(address) ?? 0;
    if (maxPerAddress > 0 && fromAddress >= maxPerAddress) return undefined;
    const set = this.byOrder.get(orderId);
    if (maxPerOrder > 0 && set && set.size >= maxPerOrder) return undefined;
    let done = false;
    let wake!: (woken: Woken) => void;
    const woken = new Promise<Woken>((resolve) => {
      wake = (end) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.remove(waiter);
        resolve(end);
      };
    });
    const waiter: Waiter = { orderId, address, wake };
    if (set) set.add(waiter);
    else this.byOrder.set(orderId, new Set([waiter]));
    this.byAddress.set(address, fromAddress + 1);
    this.waiting += 1;
    const timer = setTimeout(() => wake({ kind: 'due' }), waitMs);
    return { orderId, woken, cancel: () => wake({ kind: 'gone' }) };
  }

  /** A message named these orders decided: read those someone waits on, once, and wake their waiters. */
  async decided(orderIds: readonly string[]): Promise<void> {
    const waited = [...new Set(orderIds)].filter((id) => this.byOrder.has(id));
    if (waited.length > 0) await this.readAndWake(waited);
  }

  /** The subscription is back after a reconnection: look at every waited-on order once, batched. */
  async recheck(readyWithinMs = 5000): Promise<void> {
    if (this.byOrder.size === 0) return;
    // The subscription may come back before the connection the reads go on.
    await waitUntilReady(this.deps.redis, readyWithinMs).catch(() => {});
    await this.readAndWake([...this.byOrder.keys()]);
  }

  /** Shutting down: every waiter answers now, with its order as it is; no new wait is taken. */
  close(): void {
    this.closed = true;
    for (const set of [...this.byOrder.values()]) for (const waiter of [...set]) waiter.wake({ kind: 'due' });
  }

  private remove(waiter: Waiter): void {
    const set = this.byOrder.get(waiter.orderId);
    if (!set?.delete(waiter)) return;
    this.waiting -= 1;
    const fromAddress = (this.byAddress.get(waiter.address) ?? 1) - 1;
    if (fromAddress === 0) this.byAddress.delete(waiter.address);
    else this.byAddress.set(waiter.address, fromAddress);
    if (set.size === 0) this.byOrder.delete(waiter.orderId);
  }

  /** Wakes the waiters of the orders found decided (or gone); those still queued wait on. */
  private async readAndWake(orderIds: string[]): Promise<void> {
    let orders: (Order | null)[];
    try {
      orders = await readOrders(this.deps.redis, this.deps.keys, orderIds);
    } catch (error) {
      this.deps.onReadError?.(error);
      return;
    }
    orderIds.forEach((orderId, i) => {
      const order = orders[i] ?? null;
      if (order && !isDecided(order)) return;
      const set = this.byOrder.get(orderId);
      if (set) for (const waiter of [...set]) waiter.wake({ kind: 'read', order });
    });
  }
}

/** Orders by id in one round trip (a pipeline per slot on a cluster); null where an id names none. */
async function readOrders(redis: RedisClient, keys: Keys, orderIds: readonly string[]): Promise<(Order | null)[]> {
  const known = orderIds.flatMap((orderId) => {
    const productId = productOfOrder(orderId);
    return productId === null ? [] : [{ orderId, productId, key: keys.order(productId, orderId) }];
  });
  const replies = await pipelineBySlot(
    redis,
    known,
    (item) => item.key,
    (pipeline, item) => pipeline.hgetall(item.key),
  );
  const byId = new Map<string, Order | null>();
  known.forEach(({ orderId, productId }, i) => {
    const [error, fields] = replies[i]![0]!;
    if (error) throw error;
    const record = fields as Record<string, string>;
    byId.set(orderId, record.productId === productId ? orderFromFields(orderId, record) : null);
  });
  return orderIds.map((orderId) => byId.get(orderId) ?? null);
}
