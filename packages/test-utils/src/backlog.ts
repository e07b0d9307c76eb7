import { setTimeout as sleep } from 'node:timers/promises';
import { pidOf } from '@flashline/core';
import { ordersQueueKey } from './system.ts';
import type { System } from './system.ts';

/** A key of the orders queue (BullMQ's, under the system's queue prefix). */
const queueKey = (system: System, name: string) => ordersQueueKey(system.prefix, name);

/** Resolves once the queue's list `list` holds a job; throws, naming `what` never happened, after `timeoutMs`. */
async function untilListHoldsAJob(
  system: System,
  list: 'wait' | 'active',
  what: string,
  timeoutMs: number,
): Promise<void> {
  for (
    const deadline = Date.now() + timeoutMs;
    (await system.redis.client.llen(queueKey(system, list))) === 0;
    await sleep(2)
  ) {
    if (Date.now() > deadline) throw new Error(`no job ever ${what}: the fault had nothing to hit`);
  }
}

/**
 * Resolves once jobs wait in the orders queue: every worker then has its hands full, so a fault
 * that hits a worker now hits jobs in flight. A fault timed by a clock instead may land after the
 * workers have decided the whole burst (batch jobs decide a test burst within a second).
 */
export const untilBacklog = (system: System, timeoutMs = 10_000): Promise<void> =>
  untilListHoldsAJob(system, 'wait', 'waited', timeoutMs);

/** Resolves once some worker is running a job: a fault that hits every worker now hits work in flight. */
export const untilActive = (system: System, timeoutMs = 10_000): Promise<void> =>
  untilListHoldsAJob(system, 'active', 'ran', timeoutMs);

/**
 * The index of a worker process that runs a job now (BullMQ keeps the worker's name, `<host>:<pid>`,
 * on the job as it starts it), once one does: a fault that hits it hits work in flight. Undefined
 * once `giveUp()` says so (the burst is over) before any worker runs a job.
 */
export async function workerWithActiveJob(
  system: System,
  giveUp: () => boolean = () => false,
  timeoutMs = 10_000,
): Promise<number | undefined> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(2)) {
    if (giveUp()) return undefined;
    for (const jobId of await system.redis.client.lrange(queueKey(system, 'active'), 0, -1)) {
      const runner = await system.redis.client.hget(queueKey(system, jobId), 'pb');
      const pid = runner ? pidOf(runner) : Number.NaN;
      const index = system.workers.findIndex((worker) => worker?.child.pid === pid);
      if (index >= 0) return index;
    }
  }
  throw new Error('no worker ever ran a job: the fault had nothing to hit');
}
