import { Redis } from 'ioredis';
import { round } from '../measure.ts';
import { defineBaselineScripts } from './scripts.ts';
import { luaDecrement, naive, setnxLock, watch, type SeedKeys, type SeedOrder, type SeedTally } from './seedOrders.ts';

export const SEED_ALGORITHMS = ['naive', 'watch', 'setnxLock', 'luaDecrement'] as const;
export type SeedAlgorithm = (typeof SEED_ALGORITHMS)[number];

export interface SeedOptions {
  redisUrl: string;
  /** Keys are `<keyPrefix>:{seed-<algorithm>}:stock|lock`; both are deleted after each run. */
  keyPrefix: string;
  /** Initial stock S of the one product. Default 10,000. */
  stock?: number;
  /** Orders of 1 unit, D, shared out among the clients as they go. Default 20,000. */
  demand?: number;
  /** Concurrent clients, each on its own connection. Default 50. */
  clients?: number;
  /** `setnxLock`: pause between acquisition attempts. Default 1 ms (the seed sleeps 10 ms). */
  lockSpinSleepMs?: number;
  /** `setnxLock`: lease of the lock. Default 5,000 ms. */
  lockLeaseMs?: number;
}

export interface SeedResult {
  algorithm: SeedAlgorithm;
  clients: number;
  stock: number;
  demand: number;
  elapsedMs: number;
  /** Orders decided (sold or sold out) per second: demand / elapsed. */
  decisionsPerSecond: number;
  /** Orders the clients believe they sold. */
  sold: number;
  /** Orders the clients saw sold out. */
  rejected: number;
  /** Units sold beyond the initial stock: max(0, sold - stock). */
  oversold: number;
  /** The stock key as read after the run. */
  finalStock: number;
  /** Sales the stock never recorded (a SET overwritten by another client's): sold - (stock - finalStock). */
  lostUpdates: number;
  /** `watch` only: EXECs aborted by a concurrent change, each one a retry. */
  abortedExecs?: number;
  /** `setnxLock` only: acquisition attempts that found the lock taken. */
  lockSpins?: number;
}

/** Runs the four seed algorithms one after the other against the same Redis. */
export async function seedAlgorithms(options: SeedOptions): Promise<Record<SeedAlgorithm, SeedResult>> {
  const results: Partial<Record<SeedAlgorithm, SeedResult>> = {};
  for (const algorithm of SEED_ALGORITHMS) results[algorithm] = await runSeedAlgorithm(algorithm, options);
  return results as Record<SeedAlgorithm, SeedResult>;
}

/** `clients` connections hammer one stock key until `demand` orders of 1 unit are decided. */
export async function runSeedAlgorithm(algorithm: SeedAlgorithm, options: SeedOptions): Promise<SeedResult> {
  const stock = options.stock ?? 10_000;
  const demand = options.demand ?? 20_000;
  const clientCount = options.clients ?? 50;
  const order = orderOf(algorithm, options);
  const keys: SeedKeys = {
    stock: `${options.keyPrefix}:{seed-${algorithm}}:stock`,
    lock: `${options.keyPrefix}:{seed-${algorithm}}:lock`,
  };
  const clients = await connectClients(options.redisUrl, clientCount);
  const admin = clients[0]!;
  try {
    await admin.del(keys.lock);
    await admin.set(keys.stock, stock);
    const tally: SeedTally = { abortedExecs: 0, lockSpins: 0 };
    let sold = 0;
    let rejected = 0;
    let unclaimed = demand;
    // Connections are all open before the clock starts: the run measures decisions, not handshakes.
    const started = performance.now();
    await Promise.all(
      clients.map(async (client) => {
        while (unclaimed > 0) {
          unclaimed -= 1;
          if (await order(client, keys, tally)) sold += 1;
          else rejected += 1;
        }
      }),
    );
    const elapsedMs = performance.now() - started;
    const finalStock = Number(await admin.get(keys.stock));
    return {
      algorithm,
      clients: clientCount,
      stock,
      demand,
      elapsedMs: round(elapsedMs),
      decisionsPerSecond: round(demand / (elapsedMs / 1000)),
      sold,
      rejected,
      oversold: Math.max(0, sold - stock),
      finalStock,
      lostUpdates: sold - (stock - finalStock),
      ...(algorithm === 'watch' ? { abortedExecs: tally.abortedExecs } : {}),
      ...(algorithm === 'setnxLock' ? { lockSpins: tally.lockSpins } : {}),
    };
  } finally {
    await admin.del(keys.stock, keys.lock);
    await Promise.all(clients.map((client) => client.quit().catch(() => client.disconnect())));
  }
}

function orderOf(algorithm: SeedAlgorithm, options: SeedOptions): SeedOrder {
  switch (algorithm) {
    case 'naive':
      return naive;
    case 'watch':
      return watch;
    case 'setnxLock':
      return setnxLock({ leaseMs: options.lockLeaseMs ?? 5000, spinSleepMs: options.lockSpinSleepMs ?? 1 });
    case 'luaDecrement':
      return luaDecrement;
  }
}

async function connectClients(redisUrl: string, count: number): Promise<Redis[]> {
  const clients = Array.from({ length: count }, () => {
    const client = new Redis(redisUrl, { lazyConnect: true, connectionName: 'flashline-bench-seed' });
    client.on('error', () => {}); // a failed command rejects its own promise; the event would crash the run
    defineBaselineScripts(client);
    return client;
  });
  await Promise.all(clients.map((client) => client.connect()));
  return clients;
}
