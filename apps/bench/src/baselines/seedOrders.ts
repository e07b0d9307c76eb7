import type { RedisClient } from '@flashline/core';
import { randomUUID } from 'node:crypto';
import { setImmediate as yieldTurn, setTimeout as sleep } from 'node:timers/promises';

/**
 * The four ways the seed posts take one unit of stock, each written as faithfully as TypeScript
 * allows: one call is one buyer's order of 1 unit, on one client's own connection. It resolves
 * true when the client believes it sold the unit, false when it saw the stock sold out.
 */
export type SeedOrder = (client: RedisClient, keys: SeedKeys, tally: SeedTally) => Promise<boolean>;

export interface SeedKeys {
  stock: string;
  lock: string;
}

/** Contention counters, shared by every client of one run. */
export interface SeedTally {
  /** `watch`: EXECs that Redis aborted because another client changed the stock after WATCH. */
  abortedExecs: number;
  /** `setnxLock`: acquisition attempts that found the lock taken. */
  lockSpins: number;
}

export interface LockSettings {
  /** Lease of the lock (`PX`), so a crashed holder cannot block the others forever. */
  leaseMs: number;
  /** Pause between two acquisition attempts; 0 only yields to the event loop. */
  spinSleepMs: number;
}

/** GET, then SET stock-1: nothing stops fifty clients reading the same stock, so it oversells. */
export const naive: SeedOrder = async (client, keys) => {
  const stock = Number(await client.get(keys.stock));
  if (stock <= 0) return false;
  await client.set(keys.stock, stock - 1);
  return true;
};

/** Optimistic: EXEC is aborted (ioredis answers null) when the stock changed after WATCH; retry. */
export const watch: SeedOrder = async (client, keys, tally) => {
  for (;;) {
    await client.watch(keys.stock);
    const stock = Number(await client.get(keys.stock));
    if (stock <= 0) {
      await client.unwatch();
      return false;
    }
    const replies = await client
      .multi()
      .set(keys.stock, stock - 1)
      .exec();
    if (replies !== null) return true;
    tally.abortedExecs += 1;
  }
};

/** Pessimistic: one holder at a time (SET NX PX with a random token), compare-and-delete release. */
export function setnxLock(settings: LockSettings): SeedOrder {
  const pause = () => (settings.spinSleepMs > 0 ? sleep(settings.spinSleepMs) : yieldTurn());
  return async (client, keys, tally) => {
    const token = randomUUID();
    while ((await client.set(keys.lock, token, 'PX', settings.leaseMs, 'NX')) !== 'OK') {
      tally.lockSpins += 1;
      await pause();
    }
    try {
      const stock = Number(await client.get(keys.stock));
      if (stock <= 0) return false;
      await client.set(keys.stock, stock - 1);
      return true;
    } finally {
      // Only our own lock: after a lease expiry, a plain DEL would free the next holder's lock.
      await client.compareAndDelete(keys.lock, token);
    }
  };
}

/** The check and the decrement in one Lua script: atomic, one round trip, nothing to retry. */
export const luaDecrement: SeedOrder = async (client, keys) => (await client.decrementStock(keys.stock, 1)) >= 0;
