import type { RedisClient } from '@flashline/core';

const FILLER = 'test:filler';

/**
 * Fills a redis-server started with a small `maxmemory` (startRedis) past it, so that it refuses
 * writes with OOM, as a Redis full in production would. A plain SET or APPEND cannot get far past the
 * limit (Redis refuses it as soon as it is reached, its own argument counted), and just past it the
 * server drifts back under as client buffers shrink: the filler is written by a script flagged
 * `allow-oom`, a megabyte past the limit, so the refusal holds until `emptyRedisFiller`.
 */
export async function fillRedisPastMaxmemory(client: RedisClient): Promise<void> {
  const info = await client.info('memory');
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1]);
  const maxmemory = field('maxmemory');
  if (!(maxmemory > 0)) throw new Error('this redis-server has no maxmemory: start it with startRedis({ maxmemory })');
  const bytes = maxmemory - field('used_memory') + 1024 * 1024;
  await client.eval(
    "#!lua flags=allow-oom\nredis.call('APPEND', KEYS[1], string.rep('x', tonumber(ARGV[1])))",
    1,
    FILLER,
    bytes,
  );
}

/** Frees what `fillRedisPastMaxmemory` filled: RedisClient accepts writes again at once. */
export async function emptyRedisFiller(client: RedisClient): Promise<void> {
  await client.del(FILLER);
}
