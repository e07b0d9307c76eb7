import type { HoldUnits, ProductStats, UnservedPartition } from '@flashline/core';
import type { DoorView } from './doorRates.ts';
import type { JobCounts, LockState, SaleReading, WebhooksLine } from './readSale.ts';

export interface ProductRow extends ProductStats {
  rejectedTotal: number;
  /** Of the held units whose hold has ended, the share paid for (0..1); null while none has ended. */
  paidShare: number | null;
  /** Orders decided (confirmed or rejected) per second, over the last few readings. */
  decisionsPerSecond: number;
}

export interface SaleTotals {
  products: number;
  stock: number;
  sold: number;
  accepted: number;
  queued: number;
  confirmed: number;
  rejected: ProductStats['rejected'];
  reserved: number;
  held: number;
  holds: HoldUnits;
  paidShare: number | null;
  decisionsPerSecond: number;
}

/** What every client's view is cut from: one per tick, shared. */
export interface SaleSnapshot {
  at: number;
  /** How long the read took (ms). */
  readMs: number;
  totals: SaleTotals;
  jobs: JobCounts;
  workers: number;
  /** The front door: every live API process summed. */
  door: DoorView;
  /** Null without WEBHOOK_URL on the dashboard. */
  webhooks: WebhooksLine | null;
  /** Partitions with work waiting and no live worker serving them. */
  unserved: UnservedPartition[];
  products: ProductRow[];
  locks: LockState[];
}

const decidedOf = (p: ProductStats) =>
  p.confirmed + p.held + p.rejected.sold_out + p.rejected.limit_exceeded + p.rejected.processing_failed;

/** Paid units over the units of every hold that has ended (paid, expired or cancelled). */
const paidShareOf = ({ paid, expired, cancelled }: HoldUnits): number | null =>
  paid + expired + cancelled > 0 ? paid / (paid + expired + cancelled) : null;

/**
 * Turns readings into rows with decision rates. The rate is taken over a window of a few
 * readings, not the last tick alone, so a batch committed just before or after a read does not
 * make the rate jump between zero and double.
 */
export class RateWindow {
  private readonly history: { at: number; decided: Map<string, number> }[] = [];

  constructor(private readonly windowMs: number) {}

  rows(reading: SaleReading): ProductRow[] {
    const decided = new Map(reading.products.map((p) => [p.productId, decidedOf(p)]));
    this.history.push({ at: reading.at, decided });
    while (this.history.length > 2 && reading.at - this.history[1]!.at >= this.windowMs) this.history.shift();
    const oldest = this.history[0]!;
    const seconds = (reading.at - oldest.at) / 1000;
    return reading.products.map((p) => {
      const before = oldest.decided.get(p.productId) ?? decidedOf(p);
      const rejectedTotal = p.rejected.sold_out + p.rejected.limit_exceeded + p.rejected.processing_failed;
      return {
        ...p,
        rejectedTotal,
        paidShare: paidShareOf(p.holds),
        decisionsPerSecond: seconds > 0 ? Math.max(0, (decidedOf(p) - before) / seconds) : 0,
      };
    });
  }
}

export function totalsOf(rows: readonly ProductRow[]): SaleTotals {
  const totals: SaleTotals = {
    products: rows.length,
    stock: 0,
    sold: 0,
    accepted: 0,
    queued: 0,
    confirmed: 0,
    rejected: { sold_out: 0, limit_exceeded: 0, processing_failed: 0 },
    reserved: 0,
    held: 0,
    holds: { units: 0, paid: 0, expired: 0, cancelled: 0 },
    paidShare: null,
    decisionsPerSecond: 0,
  };
  for (const row of rows) {
    totals.stock += row.stock;
    totals.sold += row.sold;
    totals.accepted += row.accepted;
    totals.queued += row.queued;
    totals.confirmed += row.confirmed;
    totals.rejected.sold_out += row.rejected.sold_out;
    totals.rejected.limit_exceeded += row.rejected.limit_exceeded;
    totals.rejected.processing_failed += row.rejected.processing_failed;
    totals.decisionsPerSecond += row.decisionsPerSecond;
    totals.reserved += row.reserved;
    totals.held += row.held;
    for (const key of ['units', 'paid', 'expired', 'cancelled'] as const) totals.holds[key] += row.holds[key];
  }
  totals.paidShare = paidShareOf(totals.holds);
  return totals;
}

/** The products whose locks are worth watching: the busiest now, then those with most queued. */
export function hottest(rows: readonly ProductRow[], count: number): ProductRow[] {
  return [...rows]
    .sort(
      (a, b) =>
        b.decisionsPerSecond - a.decisionsPerSecond || b.queued - a.queued || a.productId.localeCompare(b.productId),
    )
    .slice(0, count);
}
