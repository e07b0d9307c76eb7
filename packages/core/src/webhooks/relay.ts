import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Queue } from 'bullmq';
import { PRODUCT_GROUPS, type Keys } from '../keys/keys.ts';
import { partitionOfGroup } from '../queue/ordersQueue.ts';
import type { RedisClient } from '../redis/connect.ts';
import { decodeAppendBacklog, decodeExtendLock } from '../redis/replies.ts';
import { jobOfEntry, type WebhookJob } from './event.ts';

/** What the relay adds to and counts: a partition's webhooks queue (only `addBulk` and `getJobCounts` are used). */
export type WebhookQueue = Pick<Queue<WebhookJob>, 'addBulk' | 'getJobCounts'>;

export interface RelayDeps {
  redis: RedisClient;
  keys: Keys;
  /** The webhooks queue of each partition (index = partition). */
  queues: readonly WebhookQueue[];
  /** Entries read from one group's stream per read. */
  batch: number;
  /** WEBHOOK_BACKLOG_MAX: events a partition's backlog keeps; past it the oldest are dropped, and counted. */
  backlogMax: number;
  /** WEBHOOK_INFLIGHT_MAX: unfinished jobs a partition's webhooks queue holds at most; more are added only as they end. */
  inFlightMax: number;
}

/** What one step of a partition's relay did. */
export interface RelayStep {
  /** Entries moved from the outbox streams into the backlog. */
  taken: number;
  /** Events moved from the backlog into the webhooks queue (jobs added). */
  queued: number;
  /** Events the backlog dropped in this step (its budget was full), and in all (every relay, ever). */
  dropped: number;
  droppedTotal: number;
  /** The backlog's length after the step, when the step knows it (it read or wrote the backlog). */
  pending: number | undefined;
  /** False when the queue had no room: the backlog waits for deliveries to end. */
  room: boolean;
}

/** Jobs per addBulk (one MULTI of as many scripts, a few ms of Redis's time). */
const ADD_CHUNK = 100;
/** Entries per appendBacklog call (each a few dozen arguments). */
const APPEND_CHUNK = 500;
/** The most events one step moves from the backlog into the queue. */
const QUEUE_STEP = 1000;
/** How soon a relay whose queue had no room looks again (doubling, up to its idle wait, while none frees). */
const FULL_WAIT_MS = 50;
/** Idle steps between two reads of a backlog believed empty. */
const RECHECK_EVERY = 30;
/** A job counts against the window until it is delivered or has failed for good. */
const UNFINISHED = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children'] as const;

type StreamReply = [key: string, entries: [id: string, fields: string[]][]][] | null;

/** The product groups whose outbox feeds a partition (the groups whose orders that partition decides). */
export function groupsOfPartition(partition: number, partitions: number): number[] {
  return Array.from({ length: PRODUCT_GROUPS }, (_, group) => group).filter(
    (group) => partitionOfGroup(group, partitions) === partition,
  );
}

/**
 * One step of a partition's relay, in two moves.
 *
 * 1. Outbox → backlog, always (whether the receiver answers or not): reads up to `batch` entries of
 *    each of its groups' outbox streams, appends them to the partition's backlog (lua/appendBacklog-2.lua,
 *    which drops the backlog's oldest past `backlogMax` and counts them), and only once the append has
 *    answered deletes them. On a single Redis the read is one XREAD; on a cluster, one per group.
 * 2. Backlog → webhooks queue, while the queue has room: as many of the backlog's oldest entries as
 *    `inFlightMax` minus the queue's unfinished jobs, added as jobs (job id = event id), then deleted.
 *    A receiver that is down fills the window with jobs waiting for a retry; the rest of its events
 *    wait in the backlog, in their compact form.
 *
 * A crash between an add and its delete leaves the entries to be moved again: an append twice (the
 * event delivered twice), or an add of the same job ids, which BullMQ takes as the jobs it has. An
 * event may be delivered twice, never lost (unless the budget drops it, counted). Reads from each
 * stream's head, so it keeps no state; `pending` (the backlog's length, when the caller knows it is
 * empty) only spares the second move's reads on an idle system.
 */
export async function relayStep(deps: RelayDeps, partition: number, pending?: number): Promise<RelayStep> {
  const streams = groupsOfPartition(partition, deps.queues.length).map((group) => deps.keys.outbox(group));
  const read = await readStreams(deps.redis, streams, deps.batch);
  const step: RelayStep = { taken: 0, queued: 0, dropped: 0, droppedTotal: 0, pending, room: true };
  if (read.length > 0) {
    const entries = read.flatMap(([, list]) => list);
    for (let i = 0; i < entries.length; i += APPEND_CHUNK) {
      const chunk = entries.slice(i, i + APPEND_CHUNK);
      const reply = decodeAppendBacklog(
        await deps.redis.appendBacklog([
          deps.keys.webhookBacklog(partition),
          deps.keys.webhookDropped(partition),
          deps.backlogMax,
          Date.now(),
          chunk.length,
          ...chunk.flatMap(([, fields]) => [fields.length, ...fields]),
        ]),
      );
      step.dropped += reply.dropped;
      step.droppedTotal = reply.droppedTotal;
      step.pending = reply.pending;
    }
    await deleteEntries(deps.redis, read);
    step.taken = entries.length;
  }
  if (step.pending === 0) return step;
  const queue = deps.queues[partition]!;
  const room = deps.inFlightMax - (await unfinishedJobs(queue));
  if (room <= 0) return { ...step, room: false };
  const backlog = deps.keys.webhookBacklog(partition);
  const want = Math.min(room, QUEUE_STEP);
  const entries = (await deps.redis.xrange(backlog, '-', '+', 'COUNT', want)) as [string, string[]][];
  if (entries.length < want) step.pending = 0;
  else if (step.pending !== undefined) step.pending = Math.max(1, step.pending - entries.length);
  if (entries.length === 0) return step;
  const jobs = entries.map(([id, fields]) => {
    const job = jobOfEntry(fields) ?? malformed(partition, id, fields);
    return { name: job.type, data: job, opts: { jobId: job.event } };
  });
  // BullMQ's addBulk is one MULTI: chunks keep each one short, so it never holds Redis (and the commits) for long.
  for (let i = 0; i < jobs.length; i += ADD_CHUNK) await queue.addBulk(jobs.slice(i, i + ADD_CHUNK));
  await deps.redis.xdel(backlog, ...entries.map(([id]) => id));
  step.queued = jobs.length;
  return step;
}

/** The jobs of a webhooks queue not yet delivered nor failed for good: the window's occupants. */
export async function unfinishedJobs(queue: Pick<Queue, 'getJobCounts'>): Promise<number> {
  const counts = await queue.getJobCounts(...UNFINISHED);
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}

/** One step of a partition's relay (relayStep); returns how many events it added to the webhooks queue. */
export async function relayOnce(deps: RelayDeps, partition: number): Promise<number> {
  return (await relayStep(deps, partition)).queued;
}

/**
 * An entry without an event id still becomes a job (under an id of its backlog entry), which fails at
 * delivery and shows on the board: the relay neither loses it silently nor stalls behind it.
 */
function malformed(partition: number, id: string, fields: readonly string[]): WebhookJob {
  const order: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) order[fields[i]!] = fields[i + 1]!;
  return { event: `malformed-p${partition}-${id}`, type: 'malformed', at: id.split('-')[0]!, order };
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
  /** The partition's backlog dropped `count` events past its budget (`total`: dropped in all, by every relay). */
  onDropped?: (count: number, total: number, partition: number) => void;
  /** The partition's backlog length, as each step that knew it left it. */
  onPending?: (pending: number, partition: number) => void;
  onError: (error: unknown, partition: number) => void;
}

export interface Relay {
  /** Ends every loop after its current step, and gives the leases back. */
  stop(): Promise<void>;
}

/**
 * The relay of a worker process: for each partition it consumes, a loop that holds the partition's
 * lease (`keys.webhookRelay`) and meanwhile moves its outbox entries into its backlog and, as the
 * queue has room, into its webhooks queue (relayStep), reading again at once while there is work and
 * after `idleMs` when there is none. With the window full (a receiver that is down), it looks again
 * after 50 ms, doubling up to `idleMs` while nothing ends. One relay per partition
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
  /** The backlog's length as the last step left it; unknown (read it) when the lease is taken anew. */
  let pending: number | undefined;
  let fullWaitMs = FULL_WAIT_MS;
  let idleSteps = 0;
  while (!signal.aborted) {
    try {
      const now = Date.now();
      // Renewed every third of the lease; a holder whose renewal fails (it lapsed) competes again.
      if (heldUntil - now < (settings.leaseMs * 2) / 3) {
        const held =
          heldUntil > now
            ? decodeExtendLock(await settings.redis.extendLock([lease, token, settings.leaseMs])).kind === 'extended'
            : (await settings.redis.set(lease, token, 'PX', settings.leaseMs, 'NX')) === 'OK';
        if (!(heldUntil > now)) pending = undefined;
        heldUntil = held ? now + settings.leaseMs : 0;
        if (!held) {
          await wait(settings.leaseMs / 2);
          continue;
        }
      }
      const step = await relayStep(settings, partition, pending);
      pending = step.pending;
      if (step.pending !== undefined) settings.onPending?.(step.pending, partition);
      if (step.queued > 0) settings.onRelayed?.(step.queued, partition);
      if (step.dropped > 0) settings.onDropped?.(step.dropped, step.droppedTotal, partition);
      if (step.queued > 0) fullWaitMs = FULL_WAIT_MS;
      if (step.taken > 0 || step.queued > 0) continue;
      // Now and then the backlog is read though it was left empty: a relay that overlapped this one (paused
      // past its lease) may have appended to it.
      if (pending === 0 && ++idleSteps % RECHECK_EVERY === 0) pending = undefined;
      if (step.room) await wait(settings.idleMs);
      else {
        await wait(Math.min(fullWaitMs, settings.idleMs));
        fullWaitMs = Math.min(fullWaitMs * 2, settings.idleMs);
      }
    } catch (error) {
      settings.onError(error, partition);
      pending = undefined;
      await wait(settings.idleMs);
    }
  }
}
