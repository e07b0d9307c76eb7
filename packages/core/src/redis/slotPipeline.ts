import type { ChainableCommander } from 'ioredis';
import { groupBy } from '../collections/groupBy.ts';
import { hashTagOf } from '../keys/keys.ts';
import type { RedisClient } from './connect.ts';

/** What a pipeline answers for one command: its error, or its reply. */
export type PipelineReply = [Error | null, unknown];

/**
 * One round trip for commands on many keys: one pipeline on a single Redis; on a cluster, where a
 * pipeline may only hold keys of one slot, one pipeline per hash tag, all sent at once. `add` puts an
 * item's commands (on keys of `keyOf(item)`'s tag) in the pipeline; each item gets its commands'
 * replies, in order.
 */
export async function pipelineBySlot<T>(
  redis: RedisClient,
  items: readonly T[],
  keyOf: (item: T) => string,
  add: (pipeline: ChainableCommander, item: T) => void,
): Promise<PipelineReply[][]> {
  const groups = groupBy(items.keys(), (i) => (redis.isCluster ? hashTagOf(keyOf(items[i]!)) : ''));
  const replies = new Array<PipelineReply[]>(items.length);
  await Promise.all(
    [...groups.values()].map(async (indexes) => {
      const pipeline = redis.pipeline();
      const counts = indexes.map((i) => {
        const before = pipeline.length;
        add(pipeline, items[i]!);
        return pipeline.length - before;
      });
      const answered = ((await pipeline.exec()) ?? []) as PipelineReply[];
      let at = 0;
      indexes.forEach((i, j) => {
        replies[i] = answered.slice(at, at + counts[j]!);
        at += counts[j]!;
      });
    }),
  );
  return replies;
}
