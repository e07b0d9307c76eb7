import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Result } from 'ioredis';
import type { RedisClient } from '@flashline/core';

const luaDir = fileURLToPath(new URL('./lua/', import.meta.url));

/**
 * Registers every `lua/<name>-<numberOfKeys>.lua` of the baselines as an ioredis command, the way
 * `@flashline/core` does, so the seed algorithms pay for EVALSHA exactly as Flashline does.
 */
export function defineBaselineScripts(redis: RedisClient): void {
  for (const file of luaFiles) {
    redis.defineCommand(file.name, { lua: file.source, numberOfKeys: file.numberOfKeys });
  }
}

const luaFiles = readdirSync(luaDir)
  .filter((file) => file.endsWith('.lua'))
  .map((file) => {
    const match = /^([A-Za-z]+)-(\d+)\.lua$/.exec(file);
    if (!match) throw new Error(`baselines/lua/${file}: name it <command>-<numberOfKeys>.lua`);
    return { name: match[1]!, numberOfKeys: Number(match[2]), source: readFileSync(luaDir + file, 'utf8') };
  });

// Each file's header documents its KEYS, ARGV and replies.
declare module 'ioredis' {
  interface RedisCommander<Context> {
    decrementStock(stockKey: string, quantity: number): Result<number, Context>;
    compareAndDelete(lockKey: string, token: string): Result<number, Context>;
  }
}
