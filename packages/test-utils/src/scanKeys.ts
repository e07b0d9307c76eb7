import type { Cluster, Redis } from 'ioredis';
import type { RedisClient } from '@flashline/core';

/**
 * Every key matching `pattern`: SCAN on a single Redis; on a cluster, SCAN on every master (each holds
 * its own slots' keys; a replica's would repeat them). A key moving in a reshard meanwhile may be seen
 * twice or not at all: callers scan a quiet cluster.
 */
export async function scanKeys(redis: RedisClient, pattern: string): Promise<string[]> {
  const nodes: Redis[] = redis.isCluster ? (redis as Cluster).nodes('master') : [redis as Redis];
  const found = await Promise.all(
    nodes.map(async (node) => {
      const keys: string[] = [];
      let cursor = '0';
      do {
        const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        keys.push(...batch);
      } while (cursor !== '0');
      return keys;
    }),
  );
  return [...new Set(found.flat())];
}
