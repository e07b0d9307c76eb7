import type { Queue } from 'bullmq';
import { Counter, Gauge, type Registry } from 'prom-client';
import { withTimeout } from './registry.ts';

// BullMQ 6 has no 'paused' list: a paused queue keeps its jobs in wait (Queue.isPaused tells).
const STATES = ['wait', 'active', 'delayed', 'prioritized', 'completed', 'failed'] as const;

/**
 * `flashline_queue_jobs{state}` (every partition together) and `flashline_queue_partition_jobs{queue,state}`
 * (each partition, by its BullMQ name), read from BullMQ at each scrape. When Redis does not answer
 * within `timeoutMs` the gauges are left out of that scrape (never a stale number) and
 * `flashline_metrics_read_errors_total{source="queue"}` counts it.
 */
export function registerQueueDepth(
  registry: Registry,
  queues: readonly Queue[],
  readErrors: Counter<'source'>,
  timeoutMs = 1000,
): void {
  let reading: Promise<Record<string, number>[]> | undefined;
  // Both gauges are collected in one scrape: one read of every partition serves them.
  const read = () =>
    (reading ??= withTimeout(
      Promise.all(queues.map((queue) => queue.getJobCounts(...STATES))),
      timeoutMs,
      'reading the queue counts',
    ).finally(() => setImmediate(() => (reading = undefined))));
  const perPartition = new Gauge({
    name: 'flashline_queue_partition_jobs',
    help: 'Jobs in one partition of the orders queue, by BullMQ state (completed and failed: those still retained)',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      try {
        const counts = await read();
        queues.forEach((queue, p) => {
          for (const state of STATES) this.set({ queue: queue.name, state }, counts[p]![state] ?? 0);
        });
      } catch {
        // Counted once, by the total's collect.
      }
    },
  });
  new Gauge({
    name: 'flashline_queue_jobs',
    help: 'Jobs in the orders queue (every partition), by BullMQ state (completed and failed: those still retained)',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      try {
        const counts = await read();
        for (const state of STATES)
          this.set(
            { state },
            counts.reduce((sum, c) => sum + (c[state] ?? 0), 0),
          );
      } catch {
        perPartition.reset();
        readErrors.inc({ source: 'queue' });
      }
    },
  });
}

/** Reads of Redis a scrape had to do without (it answered with what it had). */
export function createReadErrors(registry: Registry): Counter<'source'> {
  return new Counter({
    name: 'flashline_metrics_read_errors_total',
    help: 'Scrapes that could not read a source in time (queue: the queue counts; workers: published worker metrics; partitions: the served partitions)',
    labelNames: ['source'] as const,
    registers: [registry],
  });
}

/**
 * `flashline_partitions_unserved`: partitions with unfinished jobs that no live worker serves (their orders
 * wait `queued` until one does; the sale panel and the reconciler's log name them). Left out of a scrape
 * that cannot read Redis within `timeoutMs`, as the queue depth is.
 */
export function registerUnservedPartitions(
  registry: Registry,
  read: () => Promise<readonly unknown[]>,
  readErrors: Counter<'source'>,
  timeoutMs = 1000,
): void {
  new Gauge({
    name: 'flashline_partitions_unserved',
    help: 'Queue partitions with unfinished jobs that no live worker serves (WORKER_PARTITIONS leaves them out)',
    registers: [registry],
    async collect() {
      this.reset();
      try {
        this.set((await withTimeout(read(), timeoutMs, 'reading the served partitions')).length);
      } catch {
        readErrors.inc({ source: 'partitions' });
      }
    },
  });
}
