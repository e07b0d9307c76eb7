import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Redis, Result } from 'ioredis';

const luaDir = fileURLToPath(new URL('../lua/', import.meta.url));

/**
 * Registers every `lua/<name>-<numberOfKeys>.lua` file as an ioredis command named `<name>`.
 * ioredis sends EVALSHA and falls back to EVAL on NOSCRIPT (after a Redis restart) by itself.
 */
export function defineScripts(redis: Redis): void {
  for (const file of luaFiles) {
    redis.defineCommand(file.name, { lua: file.source, numberOfKeys: file.numberOfKeys });
  }
}

const luaFiles = readdirSync(luaDir)
  .filter((file) => file.endsWith('.lua'))
  .map((file) => {
    // `-n`: a variable number of keys; the caller passes numkeys first.
    const match = /^([A-Za-z]+)-(\d+|n)\.lua$/.exec(file);
    if (!match) throw new Error(`lua/${file}: name it <command>-<numberOfKeys>.lua (or -n.lua)`);
    const numberOfKeys = match[2] === 'n' ? undefined : Number(match[2]);
    return { name: match[1]!, numberOfKeys, source: readFileSync(luaDir + file, 'utf8') };
  });

type Arg = string | number;

// The scripts as typed commands; each file's header documents its KEYS, ARGV and replies.
declare module 'ioredis' {
  interface RedisCommander<Context> {
    acquireLock(lockKey: string, fenceKey: string, token: string, leaseMs: Arg): Result<number, Context>;
    extendLock(lockKey: string, token: string, leaseMs: Arg): Result<number, Context>;
    releaseLock(lockKey: string, token: string): Result<number, Context>;
    setProduct(productKey: string, stock: Arg, perUserLimit: Arg): Result<(string | null)[], Context>;
    /** numkeys, then 2 + n keys, then 3 + 3n args: see lua/acceptOrders-n.lua. */
    acceptOrders(numberOfKeys: number, ...keysThenArgs: Arg[]): Result<(string | number)[] | number, Context>;
    /** One array: numkeys, then 5 + n keys per product section, then 5 args and 3 + 2n per section: see lua/commitOrders-n.lua. */
    commitOrders(numberOfKeysThenKeysThenArgs: Arg[]): Result<(string | number)[] | number, Context>;
    failOrder(
      orderKey: string,
      pendingKey: string,
      productKey: string,
      now: Arg,
      retentionMs: Arg,
    ): Result<string | null, Context>;
    reopenOrder(orderKey: string, pendingKey: string, productKey: string, now: Arg): Result<number, Context>;
    rateLimit(counterKey: string, limit: Arg, windowMs: Arg): Result<number, Context>;
  }
}
