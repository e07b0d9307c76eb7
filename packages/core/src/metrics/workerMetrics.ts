import { Counter, Histogram, type Registry } from 'prom-client';
import type { LockObserver } from '../locks/productLock.ts';
import type { Decision } from '../orders/order.ts';
import type { DeliveryKind } from '../webhooks/deliver.ts';
import { createRegistry } from './registry.ts';

/** A worker process's metrics; its registry is published to Redis for the dashboard to serve. */
export function createWorkerMetrics(registry: Registry = createRegistry()) {
  const decided = new Counter({
    name: 'flashline_orders_decided_total',
    help: 'Orders this worker decided, by status and reason (reason "none" for confirmed)',
    labelNames: ['status', 'reason'] as const,
    registers: [registry],
  });
  const decisionLatency = new Histogram({
    name: 'flashline_decision_latency_seconds',
    help: 'From the order being accepted (job enqueued) to its decision being committed',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const lockWait = new Histogram({
    name: 'flashline_lock_wait_seconds',
    help: 'Time to acquire a product lock, contention retries included (acquisitions that succeeded)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const lockRetries = new Counter({
    name: 'flashline_lock_retries_total',
    help: 'Lock acquisition attempts that found the product lock held by another worker',
    registers: [registry],
  });
  const lockTimeouts = new Counter({
    name: 'flashline_lock_timeouts_total',
    help: 'Lock acquisitions given up after LOCK_WAIT_MS (lock_unavailable; the job is retried)',
    registers: [registry],
  });

  const holdUnitsExpired = new Counter({
    name: 'flashline_hold_units_expired_total',
    help: "Held units this worker's expiry timers gave back to stock (holds past their payment deadline)",
    registers: [registry],
  });
  const webhookDeliveries = new Counter({
    name: 'flashline_webhook_deliveries_total',
    help: 'Webhook delivery attempts, by outcome (delivered: a 2xx; refused: another status; timeout; connection_error; malformed: not an order event, not retried)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const webhookEventsRelayed = new Counter({
    name: 'flashline_webhook_events_relayed_total',
    help: 'Outbox entries this worker moved into the webhooks queue (a re-add after a crash counts again)',
    registers: [registry],
  });
  const webhookEventsDropped = new Counter({
    name: 'flashline_webhook_events_dropped_total',
    help: "Webhook events this worker's relay dropped, oldest first, from a backlog past WEBHOOK_BACKLOG_MAX (never delivered)",
    registers: [registry],
  });

  const lockObserver: LockObserver = {
    acquired(waitMs, busyAttempts) {
      lockWait.observe(waitMs / 1000);
      // Most acquisitions (every lock a commit claims in its script) waited for nothing: prom-client
      // allocates for an inc even of 0, and a wide sale's worker makes thousands of them a second.
      if (busyAttempts > 0) lockRetries.inc(busyAttempts);
    },
    gaveUp(_waitMs, busyAttempts) {
      lockTimeouts.inc();
      lockRetries.inc(busyAttempts);
    },
  };

  return {
    registry,
    decided,
    decisionLatency,
    lockObserver,
    /** A decision this worker's commit applied; `acceptedAt` is the job's enqueue time (epoch ms). */
    observeDecision(decision: Decision, acceptedAt: number, now = Date.now()) {
      decided.inc({ status: decision.status, reason: decision.status === 'rejected' ? decision.reason : 'none' });
      decisionLatency.observe(Math.max(0, now - acceptedAt) / 1000);
    },
    /** Units of holds past their deadline that an expiry timer gave back. */
    observeExpiredUnits(units: number) {
      holdUnitsExpired.inc(units);
    },
    /** One webhook delivery attempt's outcome. */
    observeDelivery(outcome: DeliveryKind | 'malformed') {
      webhookDeliveries.inc({ outcome });
    },
    observeRelayed(count: number) {
      webhookEventsRelayed.inc(count);
    },
    /** Events a webhook backlog dropped past its budget. */
    observeDropped(count: number) {
      webhookEventsDropped.inc(count);
    },
    /** Orders ended rejected / processing_failed (a job out of attempts, or the reconciler). */
    observeFailed(count = 1) {
      if (count > 0) decided.inc({ status: 'rejected', reason: 'processing_failed' }, count);
    },
    /** Commits, the products and the orders they carried, read from the batcher's own counts at each publication. */
    trackBatches(stats: () => { batches: number; products: number; orders: number }) {
      const counter = (
        name: string,
        help: string,
        pick: (s: { batches: number; products: number; orders: number }) => number,
      ) =>
        new Counter({
          name,
          help,
          registers: [registry],
          collect() {
            this.reset();
            this.inc(pick(stats()));
          },
        });
      counter(
        'flashline_commit_batches_total',
        'Commit script calls (one atomic commit each, of one product or of several products of one key group)',
        (s) => s.batches,
      );
      counter(
        'flashline_commit_batch_products_total',
        'Products those calls decided (one lock claim or lease each; divide by batches: products per commit)',
        (s) => s.products,
      );
      counter(
        'flashline_commit_batch_orders_total',
        'Orders carried by those calls (divide by batches: mean batch size)',
        (s) => s.orders,
      );
    },
  };
}

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;
