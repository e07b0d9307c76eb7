import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Cluster, Redis, Result } from 'ioredis';

const luaDir = fileURLToPath(new URL('../lua/', import.meta.url));

/**
 * Registers every `lua/<name>-<numberOfKeys>.lua` file as an ioredis command named `<name>`.
 * ioredis sends EVALSHA and falls back to EVAL on NOSCRIPT (after a Redis restart) by itself.
 */
export function defineScripts(redis: Redis | Cluster): void {
  for (const file of luaFiles) {
    redis.defineCommand(file.name, { lua: file.source, numberOfKeys: file.numberOfKeys });
  }
}

/**
 * A line `-- #include <name>` is replaced by lua/lib/<name>.lua: Redis runs one self-contained source
 * per script, and the functions several scripts share (ending a hold, writing a webhook event) are
 * written once.
 */
function withIncludes(file: string, source: string): string {
  return source.replace(/^-- #include ([A-Za-z]+)$/gm, (_, name: string) => {
    try {
      return readFileSync(`${luaDir}lib/${name}.lua`, 'utf8');
    } catch {
      throw new Error(`lua/${file}: no lua/lib/${name}.lua to include`);
    }
  });
}

const luaFiles = readdirSync(luaDir)
  .filter((file) => file.endsWith('.lua'))
  .map((file) => {
    // `-n`: a variable number of keys; the caller passes numkeys first.
    const match = /^([A-Za-z]+)-(\d+|n)\.lua$/.exec(file);
    if (!match) throw new Error(`lua/${file}: name it <command>-<numberOfKeys>.lua (or -n.lua)`);
    const numberOfKeys = match[2] === 'n' ? undefined : Number(match[2]);
    return { name: match[1]!, numberOfKeys, source: withIncludes(file, readFileSync(luaDir + file, 'utf8')) };
  });

type Arg = string | number;

/**
 * The scripts as commands, every one called the same way: one array, its keys then its arguments
 * (a `-n` script's array starts with the number of keys). Each file's header documents its KEYS,
 * ARGV and replies; a reply is `unknown` here, and only its decoder in replies.ts reads it.
 */
declare module 'ioredis' {
  interface RedisCommander<Context> {
    acquireLock(keysThenArgs: Arg[]): Result<unknown, Context>;
    extendLock(keysThenArgs: Arg[]): Result<unknown, Context>;
    deleteIfEquals(keysThenArgs: Arg[]): Result<unknown, Context>;
    setProduct(keysThenArgs: Arg[]): Result<unknown, Context>;
    adjustStock(keysThenArgs: Arg[]): Result<unknown, Context>;
    acceptBatch(numberOfKeysThenKeysThenArgs: Arg[]): Result<unknown, Context>;
    claimBuyers(numberOfKeysThenKeysThenArgs: Arg[]): Result<unknown, Context>;
    recordOrders(numberOfKeysThenKeysThenArgs: Arg[]): Result<unknown, Context>;
    releaseBuyers(numberOfKeysThenKeysThenArgs: Arg[]): Result<unknown, Context>;
    readStock(numberOfKeysThenKeys: Arg[]): Result<unknown, Context>;
    rateLimits(numberOfKeysThenKeysThenArgs: Arg[]): Result<unknown, Context>;
    commitOrders(numberOfKeysThenKeysThenArgs: Arg[]): Result<unknown, Context>;
    failOrder(keysThenArgs: Arg[]): Result<unknown, Context>;
    reopenOrder(keysThenArgs: Arg[]): Result<unknown, Context>;
    rateLimit(keysThenArgs: Arg[]): Result<unknown, Context>;
    settleHold(keysThenArgs: Arg[]): Result<unknown, Context>;
    expireHolds(keysThenArgs: Arg[]): Result<unknown, Context>;
    appendBacklog(keysThenArgs: Arg[]): Result<unknown, Context>;
  }
}
