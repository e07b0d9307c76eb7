import { createHash } from 'node:crypto';
import { Redis, type ChainableCommander } from 'ioredis';
import type { RedisCluster } from './redisCluster.ts';

/** Every key of a cluster and what it holds, for "nothing changed" checks. */
export interface ClusterSnapshot {
  /** DBSIZE summed over the masters. */
  dbsize: number;
  /** Each key, sorted, with its type and a digest of its content (so a counter bumped or a field written shows too). */
  keys: Record<string, string>;
}

/**
 * Reads every master of the cluster on a plain connection of its own: DBSIZE, then a SCAN of its keys
 * and each one's content (readContent). Time to live is left out: it moves by itself. A test compares two snapshots
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
        const types = await node.pipeline(keys.map((key) => ['type', key])).exec();
        const pipeline = node.pipeline();
        keys.forEach((key, i) => readContent(pipeline, key, String(types?.[i]?.[1])));
        const contents = (await pipeline.exec()) ?? [];
        const entries = keys.map((key, i): [string, string] => {
          const type = String(types?.[i]?.[1]);
          const digest = createHash('sha1').update(canonical(type, contents[i]?.[1])).digest('hex').slice(0, 16);
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

/**
 * A key's content in an order that does not depend on how Redis stores it: DUMP would not do, since a
 * hash or set kept as a hash table serializes in its table's order, which a lookup or a resize in
 * serverCron may change while the content stays the same.
 */
function readContent(pipeline: ChainableCommander, key: string, type: string): void {
  switch (type) {
    case 'string':
      pipeline.get(key);
      break;
    case 'hash':
      pipeline.hgetall(key);
      break;
    case 'list':
      pipeline.lrange(key, 0, -1);
      break;
    case 'set':
      pipeline.smembers(key);
      break;
    case 'zset':
      pipeline.zrange(key, 0, -1, 'WITHSCORES');
      break;
    case 'stream':
      pipeline.xrange(key, '-', '+');
      break;
    default:
      pipeline.type(key);
  }
}

function canonical(type: string, content: unknown): string {
  if (type === 'hash') {
    const fields = Object.entries(content as Record<string, string>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return JSON.stringify(fields);
  }
  if (type === 'set') return JSON.stringify([...(content as string[])].sort());
  return JSON.stringify(content);
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
