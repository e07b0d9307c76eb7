import { Queue } from 'bullmq';
import type { RedisClient } from '../redis/connect.ts';
import type { Config } from '../config/config.ts';
import { partitionOfGroup } from './ordersQueue.ts';

export const HOLDS_QUEUE = 'holds';

/** A hold expiry timer: at its time, end the product's holds past their deadline (expireHolds). */
export interface HoldExpiryJob {
  productId: string;
}

/**
 * Where one partition of the holds queue lives (the expiry timers of the products of that partition's
 * groups): its own hash tag per partition, `fl:{holds:3}`, as the orders queue's partitions have.
 */
export function holdsPartitionQueue(config: Pick<Config, 'keyPrefix'>, partition: number) {
  return { name: HOLDS_QUEUE, prefix: `${config.keyPrefix}:{holds:${partition}}` };
}

/** Every partition of the holds queue, and a product group's. */
export interface HoldsQueues {
  readonly all: readonly Queue<HoldExpiryJob>[];
  ofGroup(group: number): Queue<HoldExpiryJob>;
  close(): Promise<void>;
}

export function createHoldsQueues(
  config: Pick<Config, 'keyPrefix' | 'queuePartitions'>,
  connection: RedisClient,
): HoldsQueues {
  const all = Array.from({ length: config.queuePartitions }, (_, p) => {
    const { name, prefix } = holdsPartitionQueue(config, p);
    return new Queue<HoldExpiryJob>(name, {
      connection,
      prefix,
      defaultJobOptions: {
        // A timer that fails is tried again soon; the reconciler's sweep is the backstop.
        attempts: 5,
        backoff: { type: 'exponential', delay: 200 },
        removeOnComplete: true,
        removeOnFail: { age: 24 * 3600 },
      },
    });
  });
  return {
    all,
    ofGroup: (group) => all[partitionOfGroup(group, all.length)]!,
    close: async () => {
      await Promise.all(all.map((queue) => queue.close()));
    },
  };
}
