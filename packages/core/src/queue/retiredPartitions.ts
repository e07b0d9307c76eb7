import { Queue } from 'bullmq';
import type { Config } from '../config/config.ts';
import type { RedisClient } from '../redis/connect.ts';
import { holdsPartitionQueue } from './holdsQueue.ts';
import { partitionQueue, webhookPartitionQueue } from './ordersQueue.ts';

/** The most partitions QUEUE_PARTITIONS allows: a retired partition is one of those above the setting. */
export const MAX_PARTITIONS = 64;

const UNFINISHED = ['wait', 'prioritized', 'delayed', 'active', 'waiting-children'] as const;
const FINISHED = ['completed', 'failed'] as const;

/** What one partition above QUEUE_PARTITIONS still holds, by queue (its BullMQ name). */
export interface RetiredPartition {
  partition: number;
  /** Jobs that still need a worker, by queue (`orders-3`, `holds`, `webhooks-3`: each partition has its own `holds`). */
  unfinished: Record<string, number>;
  /** Completed and failed jobs still kept, by queue. */
  finished: Record<string, number>;
  /** The partition's queues (orders, holds, webhooks): to clean, then close. */
  queues: Queue[];
}

type Settings = Pick<Config, 'keyPrefix' | 'queuePrefix' | 'queuePartitions'>;

/**
 * The partitions above QUEUE_PARTITIONS that still hold jobs in their orders, holds or webhooks queue:
 * left there when QUEUE_PARTITIONS was lowered. No worker serves them and the board does not list them,
 * so a worker refuses to start while one holds unfinished work (`describeRetired`). Read once at start-up
 * (three small reads per partition up to 64); the queues of partitions that hold nothing are closed.
 */
export async function findRetiredPartitions(config: Settings, connection: RedisClient): Promise<RetiredPartition[]> {
  const found = await Promise.all(
    Array.from({ length: MAX_PARTITIONS - config.queuePartitions }, async (_, i) => {
      const partition = config.queuePartitions + i;
      const queues = [
        partitionQueue(config, partition),
        holdsPartitionQueue(config, partition),
        webhookPartitionQueue(config, partition),
      ].map(({ name, prefix }) => new Queue(name, { connection, prefix, skipWaitingForReady: true }));
      const counts = await Promise.all(queues.map((queue) => queue.getJobCounts(...UNFINISHED, ...FINISHED)));
      const sum = (states: readonly string[]) =>
        Object.fromEntries(
          queues.flatMap((queue, q) => {
            const n = states.reduce((total, state) => total + (counts[q]![state] ?? 0), 0);
            return n > 0 ? [[queue.name, n] as const] : [];
          }),
        );
      const retired = { partition, unfinished: sum(UNFINISHED), finished: sum(FINISHED), queues };
      if (Object.keys(retired.unfinished).length + Object.keys(retired.finished).length > 0) return retired;
      await Promise.all(queues.map((queue) => queue.close()));
      return undefined;
    }),
  );
  return found.filter((retired) => retired !== undefined);
}

/** The message a worker refuses to start with: each partition with unfinished work, and what to do. */
export function describeRetired(retired: readonly RetiredPartition[], queuePartitions: number): string {
  const highest = Math.max(...retired.map((r) => r.partition));
  let enough = 1;
  while (enough <= highest) enough *= 2;
  const each = retired
    .map(
      ({ partition, unfinished }) =>
        `partition ${partition} (${Object.entries(unfinished)
          .map(([queue, n]) => `${n} unfinished in ${queue}`)
          .join(', ')})`,
    )
    .join('; ');
  return (
    `QUEUE_PARTITIONS is ${queuePartitions} but partitions above it still hold unfinished jobs that no worker ` +
    `would serve: ${each}. Set QUEUE_PARTITIONS=${enough} on every process until the board shows them empty, ` +
    `then lower it (docs/operations.md#changing-queue_partitions)`
  );
}
