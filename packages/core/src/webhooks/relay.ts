import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Queue } from 'bullmq';
import { PRODUCT_GROUPS, type Keys } from '../keys/keys.ts';
import { partitionOfGroup } from '../queue/ordersQueue.ts';
import type { RedisClient } from '../redis/connect.ts';
import { decodeExtendLock } from '../redis/replies.ts';
import { jobOfEntry, type WebhookJob } from './event.ts';

/** What the relay adds to: a partition's webhooks queue (only `addBulk` is used). */
export type WebhookQueue = Pick<Queue<WebhookJob>, 'addBulk'>;

export interface RelayDeps {
  redis: RedisClient;
  keys: Keys;
  /** The webhooks queue of each partition (index = partition). */
  queues: readonly WebhookQueue[];
  /** Entries read from one group's stream per read. */
  batch: number;
}

/** Jobs per addBulk (one MULTI of as many scripts, a few ms of Redis's time). */
const ADD_CHUNK = 100;

type StreamReply = [key: string, entries: [id: string, fields: string[]][]][] | null;

/** The product groups whose outbox feeds a partition (the groups whose orders that partition decides). */
export function groupsOfPartition(partition: number, partitions: number): number[] {
  return Array.from({ length: PRODUCT_GROUPS }, (_, group) => group).filter(
    (group) => partitionOfGroup(group, partitions) === partition,
  );
}

/**
 * One step of a partition's relay: reads up to `batch` entries of each of its groups' outbox streams,
 * adds them as jobs (job id = event id), and only once the add has answered deletes them. A crash
 * between the add and the delete leaves the entries to be read again and added again under the same
 * ids, which BullMQ takes as the job it has: an event may be delivered twice, never lost. Reads from
 * each stream's head (what is still there is what was not relayed), so it keeps no state. On a single
 * Redis the whole read is one XREAD; on a cluster, one per group (each group's stream is in its slot).
 * Returns how many entries it moved.
 */
export async function relayOnce(deps: RelayDeps, partition: number): Promise<number> {
  const streams = groupsOfPartition(partition, deps.queues.length).map((group) => deps.keys.outbox(group));
  const read = await readStreams(deps.redis, streams, deps.batch);
  if (read.length === 0) return 0;
  const jobs = read.flatMap(([key, entries]) =>
    entries.map(([id, fields]) => {
      const job = jobOfEntry(fields) ?? malformed(key, id, fields);
      return { name: job.type, data: job, opts: { jobId: job.event } };
    }),
  );
  // BullMQ's addBulk is one MULTI: chunks keep each one short, so it never holds Redis (and the commits) for long.
  for (let i = 0; i < jobs.length; i += ADD_CHUNK) await deps.queues[partition]!.addBulk(jobs.slice(i, i + ADD_CHUNK));
  await deleteEntries(deps.redis, read);
  return jobs.length;
}

/**
 * An entry without an event id still becomes a job (under an id of its stream entry), which fails at
 * delivery and shows on the board: the relay neither loses it silently nor stalls behind it.
 */
function malformed(key: string, id: string, fields: readonly string[]): WebhookJob {
  const order: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) order[fields[i]!] = fields[i + 1]!;
  const group = /\{g:(\d+)\}/.exec(key)?.[1] ?? 'x';
  return { event: `malformed-g${group}-${id}`, type: 'malformed', at: id.split('-')[0]!, order };
}

async function readStreams(redis: RedisClient, streams: string[], batch: number) {
  const xread = (keys: string[]) =>
    redis.xread('COUNT', batch, 'STREAMS', ...keys, ...keys.map(() => '0-0')) as Promise<StreamReply>;
  const replies = redis.isCluster ? await Promise.all(streams.map((key) => xread([key]))) : [await xread(streams)];
  return replies.flatMap((reply) => reply ?? []).filter(([, entries]) => entries.length > 0);
}

async function deleteEntries(redis: RedisClient, read: NonNullable<StreamReply>) {
  const xdel = (key: string, entries: [string, string[]][]) => redis.xdel(key, ...entries.map(([id]) => id));
  if (redis.isCluster) {
    await Promise.all(read.map(([key, entries]) => xdel(key, entries)));
    return;
  }
  const pipeline = redis.pipeline();
  for (const [key, entries] of read) pipeline.xdel(key, ...entries.map(([id]) => id));
  for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
}

export interface RelaySettings extends RelayDeps {
  /** The partitions this process consumes (WORKER_PARTITIONS). */
  partitions: readonly number[];
  /** A relay that dies holding a partition's lease is replaced within this (JOB_LOCK_MS). */
  leaseMs: number;
  /** How long an idle relay waits before it reads again. */
  idleMs: number;
  onRelayed?: (count: number, partition: number) => void;
  onError: (error: unknown, partition: number) => void;
}

export interface Relay {
  /** Ends every loop after its current step, and gives the leases back. */
  stop(): Promise<void>;
}

/**
 * The relay of a worker process: for each partition it consumes, a loop that holds the partition's
 * lease (`keys.webhookRelay`) and meanwhile moves its outbox entries into its webhooks queue, reading
 * again at once while there is work and after `idleMs` when there is none. One relay per partition
 * at a time, whatever the number of workers: the others only try the lease every half lease, so an
 * idle system pays one read per partition per `idleMs` (a read per group on a cluster), not one per
 * worker. Should two relays overlap (a holder paused past its lease), each still deletes only what
 * it added itself: an event may be added twice (BullMQ keeps the first), never lost.
 */
export function startRelay(settings: RelaySettings): Relay {
  const token = randomBytes(8).toString('hex');
  const stopping = new AbortController();
  const loops = settings.partitions.map((partition) => relayLoop(settings, partition, token, stopping.signal));
  return {
    async stop() {
      stopping.abort();
      await Promise.all(loops);
      await Promise.all(
        settings.partitions.map((p) =>
          settings.redis.deleteIfEquals([settings.keys.webhookRelay(p), token]).catch(() => {}),
        ),
      );
    },
  };
}

async function relayLoop(settings: RelaySettings, partition: number, token: string, signal: AbortSignal) {
  const lease = settings.keys.webhookRelay(partition);
  const wait = (ms: number) => sleep(ms, undefined, { signal }).catch(() => {});
  let heldUntil = 0;
  while (!signal.aborted) {
    try {
      const now = Date.now();
      // Renewed every third of the lease; a holder whose renewal fails (it lapsed) competes again.
      if (heldUntil - now < (settings.leaseMs * 2) / 3) {
        const held =
          heldUntil > now
            ? decodeExtendLock(await settings.redis.extendLock([lease, token, settings.leaseMs])).kind === 'extended'
            : (await settings.redis.set(lease, token, 'PX', settings.leaseMs, 'NX')) === 'OK';
        heldUntil = held ? now + settings.leaseMs : 0;
        if (!held) {
          await wait(settings.leaseMs / 2);
          continue;
        }
      }
      const moved = await relayOnce(settings, partition);
      if (moved > 0) settings.onRelayed?.(moved, partition);
      else await wait(settings.idleMs);
    } catch (error) {
      settings.onError(error, partition);
      await wait(settings.idleMs);
    }
  }
}
