import { groupBy } from '../collections/groupBy.ts';
import { hashTagOf } from '../keys/keys.ts';
import type { RedisClient } from '../redis/connect.ts';
import { GroupCommit } from '../run/groupCommit.ts';

interface Waiting {
  key: string;
  resolve: (value: string | null) => void;
  reject: (error: unknown) => void;
}

/** An Idempotency-Key's binding, as lua/claimBuyers-n.lua writes it: `<orderId> <fingerprint>`. */
export function parseBinding(value: string): { orderId: string; fingerprint: string } {
  const space = value.indexOf(' ');
  return space === -1
    ? { orderId: value, fingerprint: '' }
    : { orderId: value.slice(0, space), fingerprint: value.slice(space + 1) };
}

/**
 * Reads of Idempotency-Key bindings, batched as the accept path is (GroupCommit): the keys asked
 * for together go in one `MGET` (on a cluster one per hash tag, in parallel: a buyer group's keys
 * share a slot). This is the sold-out storm's one Redis call: a keyed request for a
 * product known sold out must still find the order a retry is for, and nearly all find none. A read,
 * so it answers while Redis is full too. Rejects with ioredis's error when Redis does not answer.
 */
export class KeyLookups {
  private readonly batches: GroupCommit<Waiting>;

  constructor(
    private readonly redis: RedisClient,
    maxBatch: number,
  ) {
    this.batches = new GroupCommit(maxBatch, (batch) => this.read(batch));
  }

  /** The binding of `key` (a key built by keys.idempotency), or null when it is bound to nothing. */
  get(key: string): Promise<string | null> {
    return new Promise((resolve, reject) => {
      this.batches.push({ key, resolve, reject });
    });
  }

  private async read(batch: Waiting[]): Promise<void> {
    const groups = groupBy(batch, (waiting) => (this.redis.isCluster ? hashTagOf(waiting.key) : ''));
    await Promise.all(
      [...groups.values()].map(async (group) => {
        try {
          const values = await this.redis.mget(group.map((waiting) => waiting.key));
          group.forEach((waiting, i) => waiting.resolve(values[i] ?? null));
        } catch (error) {
          for (const waiting of group) waiting.reject(error);
        }
      }),
    );
  }
}
