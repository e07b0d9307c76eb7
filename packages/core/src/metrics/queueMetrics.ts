import type { Queue } from 'bullmq';
import { Counter, Gauge, type Registry } from 'prom-client';
import { withTimeout } from './registry.ts';

// BullMQ 6 has no 'paused' list: a paused queue keeps its jobs in wait (Queue.isPaused tells).
const STATES = ['wait', 'active', 'delayed', 'prioritized', 'completed', 'failed'] as const;

/**
 * `flashline_queue_jobs{state}`, read from BullMQ at each scrape. When Redis does not answer
 * within `timeoutMs` the gauge is left out of that scrape (never a stale number) and
 * `flashline_metrics_read_errors_total{source="queue"}` counts it.
 */
export function registerQueueDepth(
  registry: Registry,
  queue: Queue,
  readErrors: Counter<'source'>,
  timeoutMs = 1000,
): void {
  new Gauge({
    name: 'flashline_queue_jobs',
    help: 'Jobs in the orders queue, by BullMQ state (completed and failed: those still retained)',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      try {
        const counts = await withTimeout(queue.getJobCounts(...STATES), timeoutMs, 'reading the queue counts');
        for (const state of STATES) this.set({ state }, counts[state] ?? 0);
      } catch {
        readErrors.inc({ source: 'queue' });
      }
    },
  });
}

/** Reads of Redis a scrape had to do without (it answered with what it had). */
export function createReadErrors(registry: Registry): Counter<'source'> {
  return new Counter({
    name: 'flashline_metrics_read_errors_total',
    help: 'Scrapes that could not read a source in time (queue: the queue counts; workers: published worker metrics)',
    labelNames: ['source'] as const,
    registers: [registry],
  });
}
