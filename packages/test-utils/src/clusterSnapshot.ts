import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import type { RedisCluster } from './redisCluster.ts';

/** Every key of a cluster and what it holds, for "nothing changed" checks. */
export interface ClusterSnapshot {
  /** DBSIZE summed over the masters. */
  dbsize: number;
  /** Each key, sorted, with a digest of its type and DUMP (so a counter bumped or a field written shows too). */
  keys: Record<string, string>;
}

/**
 * Reads every master of the cluster on a plain connection of its own: DBSIZE, then a SCAN of its keys
 * and a DUMP of each. Time to live is left out: it moves by itself. A test compares two snapshots
 * with deepEqual, and the message names the keys that appeared, went or changed.
 */
export async function snapshotCluster(cluster: RedisCluster): Promise<ClusterSnapshot> {
  const masters = await cluster.masters();
  const perNode = await Promise.all(
    masters.map(async ({ host, port }) => {
      const node = new Redis({ host, port, lazyConnect: true, maxRetriesPerRequest: 1 });
      node.on('error', () => {});
      try {
        await node.connect();
        const dbsize = await node.dbsize();
        const keys: string[] = [];
        let cursor = '0';
        do {
          const [next, batch] = await node.scan(cursor, 'COUNT', 1000);
          cursor = next;
          keys.push(...batch);
        } while (cursor !== '0');
        const pipeline = node.pipeline();
        for (const key of keys) pipeline.type(key).dumpBuffer(key);
        const replies = (await pipeline.exec()) ?? [];
        const entries = keys.map((key, i): [string, string] => {
          const type = String(replies[2 * i]?.[1]);
          const dump = replies[2 * i + 1]?.[1] as Buffer | null;
          const digest = dump ? createHash('sha1').update(dump).digest('hex').slice(0, 16) : 'gone';
          return [key, `${type}:${digest}`];
        });
        return { dbsize, entries };
      } finally {
        node.disconnect();
      }
    }),
  );
  const entries = perNode.flatMap((node) => node.entries).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { dbsize: perNode.reduce((sum, node) => sum + node.dbsize, 0), keys: Object.fromEntries(entries) };
}

/** What differs between two snapshots, readable in an assertion message ('' when nothing does). */
export function snapshotDiff(before: ClusterSnapshot, after: ClusterSnapshot): string {
  const names = new Set([...Object.keys(before.keys), ...Object.keys(after.keys)]);
  const changes = [...names].flatMap((key) => {
    const [was, is] = [before.keys[key], after.keys[key]];
    if (was === is) return [];
    return [was === undefined ? `+ ${key}` : is === undefined ? `- ${key}` : `~ ${key}`];
  });
  if (before.dbsize !== after.dbsize) changes.unshift(`dbsize ${before.dbsize} -> ${after.dbsize}`);
  return changes.join('\n');
}
