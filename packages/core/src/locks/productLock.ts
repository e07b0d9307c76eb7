import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisClient } from '../redis/connect.ts';
import type { LockSettings } from '../config/config.ts';
import { AppError } from '../errors/appError.ts';
import type { Keys } from '../keys/keys.ts';
import { decodeAcquireLock, decodeDeleteIfEquals, decodeExtendLock } from '../redis/replies.ts';
import { processName } from '../run/processName.ts';

/** What a routine run under `using` holds: the fencing token to commit with, and a signal that fires when the lease is lost. */
export interface Lease {
  readonly productId: string;
  readonly token: string;
  readonly fence: number;
  readonly signal: AbortSignal;
  /**
   * Releases the lock now (compare-and-delete), without waiting for replies already due: sent right
   * after the routine's last command on the same connection, Redis runs it after that command, so
   * the commit and the release cost one round trip together. Idempotent; `using` releases anyway.
   */
  release(): Promise<void>;
}

/**
 * Told how each acquisition went, for metrics: how long it waited and how many attempts found the
 * lock held. Called synchronously; it must not throw.
 */
export interface LockObserver {
  acquired(waitMs: number, busyAttempts: number): void;
  gaveUp(waitMs: number, busyAttempts: number): void;
}

/**
 * The process (`host:pid`) that holds a lock, from its token (`host:pid:random`). The random part
 * is what lets the holder extend or release the lock: it is never shown.
 */
export function lockHolder(token: string): string {
  return token.slice(0, token.lastIndexOf(':')) || 'unknown';
}

/**
 * The per-product lock: `SET NX PX` with a random token, a fencing token from a counter that
 * only grows, bounded jittered waiting, a lease watchdog, and compare-and-delete release.
 * Modelled on node-redlock's `using(resources, duration, routine(signal))`.
 */
export class ProductLocks {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly settings: LockSettings,
    private readonly observer?: LockObserver,
  ) {}

  /**
   * Claims the lock, or throws `lock_unavailable` after `maxWaitMs`. The caller must `release`.
   * Retries wait a random time up to a growing ceiling, so waiters do not stampede in step.
   */
  async acquire(productId: string): Promise<{ token: string; fence: number }> {
    // Unique per acquisition; it also names the holder, for operators looking at a stuck lock.
    const token = `${processName()}:${randomBytes(12).toString('hex')}`;
    const deadline = Date.now() + this.settings.maxWaitMs;
    const startedAt = performance.now();
    for (let attempt = 0; ; attempt++) {
      const reply = decodeAcquireLock(
        await this.redis.acquireLock([
          this.keys.lock(productId),
          this.keys.fence(productId),
          token,
          this.settings.ttlMs,
        ]),
      );
      switch (reply.kind) {
        case 'acquired':
          this.observer?.acquired(performance.now() - startedAt, attempt);
          return { token, fence: reply.fence };
        case 'held':
          break;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        this.observer?.gaveUp(performance.now() - startedAt, attempt + 1);
        throw new AppError(
          'lock_unavailable',
          `lock on product ${productId} still held after ${this.settings.maxWaitMs} ms`,
        );
      }
      const ceiling = Math.min(this.settings.retryMs * 2 ** Math.min(attempt, 6), 200);
      await sleep(Math.min(remaining, 1 + Math.random() * ceiling));
    }
  }

  /** Tells the observer of a lock claimed and released inside a commit script: an acquisition with no wait. */
  claimedInScript(): void {
    this.observer?.acquired(0, 0);
  }

  /** Extends the lease; false when the lock is no longer ours. */
  async extend(productId: string, token: string): Promise<boolean> {
    const reply = decodeExtendLock(
      await this.redis.extendLock([this.keys.lock(productId), token, this.settings.ttlMs]),
    );
    return reply.kind === 'extended';
  }

  /** Releases the lock if still ours; false when it had expired or passed to another holder. */
  async release(productId: string, token: string): Promise<boolean> {
    const reply = decodeDeleteIfEquals(await this.redis.deleteIfEquals([this.keys.lock(productId), token]));
    return reply.kind === 'deleted';
  }

  /**
   * Runs `routine` while holding the product's lock. A watchdog extends the lease every third
   * of its length; when the lease is lost (taken over, or unreachable Redis for a whole lease)
   * `lease.signal` aborts. The lock is released however the routine ends.
   */
  async using<T>(productId: string, routine: (lease: Lease) => Promise<T>): Promise<T> {
    const { token, fence } = await this.acquire(productId);
    const controller = new AbortController();
    let leaseEndsAt = Date.now() + this.settings.ttlMs;
    const lost = (why: string) =>
      controller.abort(new AppError('lease_lost', `lease on product ${productId} lost: ${why}`));
    const watchdog = setInterval(
      () => {
        const startedAt = Date.now();
        this.extend(productId, token).then(
          (extended) => (extended ? (leaseEndsAt = startedAt + this.settings.ttlMs) : lost('taken over or expired')),
          () => Date.now() >= leaseEndsAt && lost('Redis unreachable past the lease'),
        );
      },
      Math.max(10, Math.floor(this.settings.ttlMs / 3)),
    );
    watchdog.unref();
    let released: Promise<void> | undefined;
    const release = () => {
      clearInterval(watchdog);
      released ??= this.release(productId, token).then(
        () => {},
        () => {
          // The lease ends by itself at expiry; nothing else to do.
        },
      );
      return released;
    };
    try {
      return await routine({ productId, token, fence, signal: controller.signal, release });
    } finally {
      await release();
    }
  }
}
