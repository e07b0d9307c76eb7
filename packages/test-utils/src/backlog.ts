import { setTimeout as sleep } from 'node:timers/promises';
import { pidOf } from '@flashline/core';
import { partitionKey, type BaseSystem } from './system.ts';

/** A key of each partition of the orders queue (BullMQ's, under the system's queue prefixes). */
const queueKeys = (system: BaseSystem, name: string) =>
  Array.from({ length: system.config.queuePartitions }, (_, p) => partitionKey(system.config, p, name));

/** Resolves once the queue's list `list` holds a job; throws, naming `what` never happened, after `timeoutMs`. */
async function untilListHoldsAJob(
  system: BaseSystem,
  list: 'wait' | 'active',
  what: string,
  timeoutMs: number,
): Promise<void> {
  for (
    const deadline = Date.now() + timeoutMs;
    (await Promise.all(queueKeys(system, list).map((key) => system.client.llen(key)))).every((n) => n === 0);
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
export const untilBacklog = (system: BaseSystem, timeoutMs = 10_000): Promise<void> =>
  untilListHoldsAJob(system, 'wait', 'waited', timeoutMs);

/** Resolves once some worker is running a job: a fault that hits every worker now hits work in flight. */
export const untilActive = (system: BaseSystem, timeoutMs = 10_000): Promise<void> =>
  untilListHoldsAJob(system, 'active', 'ran', timeoutMs);

/**
 * The index of a worker process that runs a job now (BullMQ keeps the worker's name, `<host>:<pid>`,
 * on the job as it starts it), once one does: a fault that hits it hits work in flight. Undefined
 * once `giveUp()` says so (the burst is over) before any worker runs a job.
 */
export async function workerWithActiveJob(
  system: BaseSystem,
  giveUp: () => boolean = () => false,
  timeoutMs = 10_000,
): Promise<number | undefined> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(2)) {
    if (giveUp()) return undefined;
    for (let p = 0; p < system.config.queuePartitions; p++) {
      for (const jobId of await system.client.lrange(partitionKey(system.config, p, 'active'), 0, -1)) {
        const runner = await system.client.hget(partitionKey(system.config, p, jobId), 'pb');
        const pid = runner ? pidOf(runner) : Number.NaN;
        const index = system.workers.findIndex((worker) => worker?.child.pid === pid);
        if (index >= 0) return index;
      }
    }
  }
  throw new Error('no worker ever ran a job: the fault had nothing to hit');
}
