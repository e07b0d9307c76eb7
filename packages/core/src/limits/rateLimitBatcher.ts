import type { RedisClient } from '../redis/connect.ts';
import { hashTagOf, type Keys } from '../keys/keys.ts';
import { decodeRateLimits, type RateLimitReply } from '../redis/replies.ts';
import type { RateLimit } from './rateLimiter.ts';
import { groupBy } from '../collections/groupBy.ts';
import { GroupCommit } from '../run/groupCommit.ts';

/** One id's requests in a batch: its counter, the lease asked for with them, and the window it is asked for. */
interface Group {
  id: string;
  key: string;
  same: Waiting[];
  lease: number;
  window: Window | undefined;
}

interface Waiting {
  id: string;
  resolve: (reply: RateLimitReply) => void;
  reject: (error: unknown) => void;
}

/**
 * What this process knows of one id's current window, from its last count: when the window ends (at
 * the latest), the units it counted ahead of time and has not spent (its lease), the units asked for
 * ahead in counts still on the wire, whether the window is spent (every unit of it counted: the rest
 * of the window is refused without asking), and the lease it asked for last (the next one doubles it).
 */
interface Window {
  endsAt: number;
  lease: number;
  asking: number;
  spent: boolean;
  lastLease: number;
}

const OFF: RateLimitReply = Object.freeze({ kind: 'allowed' });
const ALLOWED: RateLimitReply = Object.freeze({ kind: 'allowed' });

/** A lease is at most this share of the limit: what an id may be refused early by, per process and window. */
export const LEASE_SHARE = 16;
/** Ids whose windows this process remembers; past it, new ids are counted as before (no lease, no memory). */
export const MAX_WINDOWS = 10_000;

/**
 * `takeRateLimit` for a stream of requests, as cheaply as the limit allows:
 *  - the requests that arrive while a batch is being counted go together in the next, one
 *    `rateLimits-n.lua` call for the batch (the same counts and windows as a call each, in arrival
 *    order). As the accept batch: no timer, so a lone request goes at once;
 *  - an id that asks again within its window (a busy client) has units counted ahead of time, a
 *    lease that doubles with each count of the window up to 1/LEASE_SHARE of the limit, and spends
 *    them here without a Redis call;
 *  - an id whose window is spent is refused here until the window ends: a flood from one address
 *    costs one count per window, not one per request.
 * Every unit is counted in Redis before it is spent, so across processes no window ever lets more
 * than `limit` through; a lease's unspent units only make a busy id refused early, by at most
 * limit/LEASE_SHARE per API process and window. A client that sends once per window is counted as
 * before, exactly. Answers synchronously when it can (no promise on the hot path); otherwise rejects
 * with ioredis's error when Redis does not answer.
 */
export class RateLimitBatcher {
  private readonly batches: GroupCommit<Waiting>;
  private readonly windows = new Map<string, Window>();
  private readonly maxLease: number;
  private sweepAfter = 0;

  constructor(private readonly deps: { redis: RedisClient; keys: Keys; rule: RateLimit; maxBatch: number }) {
    this.batches = new GroupCommit(deps.maxBatch, (batch) => this.count(batch));
    this.maxLease = Math.floor(deps.rule.limit / LEASE_SHARE);
  }

  /** The ids whose windows this process remembers now (bounded: MAX_WINDOWS), for tests. */
  get remembered(): number {
    return this.windows.size;
  }

  take(id: string): RateLimitReply | Promise<RateLimitReply> {
    if (this.deps.rule.limit === 0) return OFF;
    const window = this.windows.get(id);
    if (window) {
      const now = Date.now();
      if (now >= window.endsAt) this.windows.delete(id);
      else if (window.lease > 0) {
        window.lease -= 1;
        return ALLOWED;
      } else if (window.spent) return { kind: 'refused', retryInMs: window.endsAt - now };
    }
    return new Promise((resolve, reject) => {
      this.batches.push({ id, resolve, reject });
    });
  }

  /**
   * The units to count ahead for an id asking `n` now: none on its first count of a window, and never
   * so many that its unspent units (held, or asked for on the wire) pass `maxLease`: they are what the
   * id may be refused early by.
   */
  private leaseFor(window: Window | undefined, n: number): number {
    if (!window || this.maxLease === 0 || Date.now() >= window.endsAt) return 0;
    const room = this.maxLease - window.lease - window.asking;
    return Math.max(0, Math.min(room, Math.max(n, 2 * window.lastLease)));
  }

  private remember(id: string, endsAt: number, lease: number, spent: boolean, asked: number): void {
    const now = Date.now();
    const window = this.windows.get(id);
    if (window && window.endsAt > now) {
      // A count lands while the lease of the one before may be unspent (the requests that arrived while
      // it was on the wire went in this one): both were counted in Redis, so both are spent here.
      window.lease += lease;
      Object.assign(window, { endsAt, spent, lastLease: Math.max(asked, window.lastLease) });
      return;
    }
    // Full: drop the ended windows, at most every 100 ms (a full map of live ones is not walked per request).
    if (this.windows.size >= MAX_WINDOWS && now >= this.sweepAfter) {
      this.sweepAfter = now + 100;
      for (const [other, ended] of this.windows) if (now >= ended.endsAt) this.windows.delete(other);
    }
    if (this.windows.size < MAX_WINDOWS) this.windows.set(id, { endsAt, lease, asking: 0, spent, lastLease: asked });
  }

  private async count(batch: Waiting[]): Promise<void> {
    const byId = groupBy(batch, (waiting) => waiting.id);
    const { keys, rule } = this.deps;
    const groups = [...byId].map(([id, same]): Group => {
      const window = this.windows.get(id);
      const lease = this.leaseFor(window, same.length);
      if (window) window.asking += lease;
      return { id, key: keys.rateLimit(rule.scope, id), same, lease, window };
    });
    // One call for the batch; on a cluster one per hash tag (a group of ids shares a slot), in parallel.
    const calls = groupBy(groups, (group) => (this.deps.redis.isCluster ? hashTagOf(group.key) : ''));
    await Promise.all([...calls.values()].map((call) => this.countGroups(call)));
  }

  private async countGroups(groups: Group[]): Promise<void> {
    const { redis, rule } = this.deps;
    // The window ends at most its time to live after the call was sent: a lease is never spent past it.
    const sentAt = Date.now();
    try {
      const counts = decodeRateLimits(
        await redis.rateLimits([
          groups.length,
          ...groups.map((group) => group.key),
          rule.limit,
          rule.windowMs,
          ...groups.map((group) => group.same.length + group.lease),
        ]),
        groups.length,
      );
      groups.forEach(({ id, same, lease }, i) => {
        const { count, ttlMs } = counts[i]!;
        // The counter's units before this batch, then these requests in arrival order, then the lease.
        const before = count - same.length - lease;
        same.forEach((waiting, j) =>
          waiting.resolve(before + j + 1 <= rule.limit ? ALLOWED : { kind: 'refused', retryInMs: ttlMs }),
        );
        const leased = Math.max(0, Math.min(lease, rule.limit - before - same.length));
        const spent = before + same.length + leased >= rule.limit;
        if (leased > 0 || spent || this.maxLease > 0) this.remember(id, sentAt + ttlMs, leased, spent, lease);
      });
    } catch (error) {
      for (const group of groups) for (const waiting of group.same) waiting.reject(error);
    } finally {
      for (const { window, lease } of groups) if (window) window.asking -= lease;
    }
  }
}
