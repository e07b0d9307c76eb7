import { errorFields, type Logger } from '@flashline/core';
import { DoorRates } from './doorRates.ts';
import { readLocks, readSale, type SaleSources } from './readSale.ts';
import { RateWindow, hottest, totalsOf, type SaleSnapshot } from './saleSnapshot.ts';

export type SaleListener = (event: { snapshot: SaleSnapshot } | { error: string }) => void;

export interface SaleFeedOptions extends SaleSources {
  intervalMs: number;
  log: Logger;
  /** How many of the busiest products' locks each snapshot shows. */
  lockCount?: number;
}

/**
 * One polling loop for every open panel: however many operators watch, Redis is read once per
 * interval. The loop runs only while someone listens and stops with the last listener.
 */
export class SaleFeed {
  /** Each listener with what ends its stream when the feed closes. */
  private readonly listeners = new Map<SaleListener, () => void>();
  private readonly rates: RateWindow;
  private readonly door: DoorRates;
  private running = false;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  /** Reads done so far: lets tests see that N listeners share one loop. */
  reads = 0;
  latest: SaleSnapshot | undefined;

  constructor(private readonly options: SaleFeedOptions) {
    this.rates = new RateWindow(Math.max(2000, 4 * options.intervalMs));
    // API processes publish once a second: a few of their copies make a steady rate.
    this.door = new DoorRates(5000);
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  /** Starts delivering snapshots to `listener`; `onClose` runs if the feed closes first. Returns the unsubscribe. */
  subscribe(listener: SaleListener, onClose: () => void): () => void {
    if (this.closed) throw new Error('the sale feed is closed');
    this.listeners.set(listener, onClose);
    // A fresh snapshot need not wait for the next tick: a new panel fills at once.
    if (this.latest && Date.now() - this.latest.at < this.options.intervalMs) listener({ snapshot: this.latest });
    if (!this.running) void this.loop();
    return () => this.listeners.delete(listener);
  }

  /** Stops the loop and tells every listener it is over (their streams end). */
  close(): void {
    this.closed = true;
    const ends = [...this.listeners.values()];
    this.listeners.clear();
    for (const end of ends) end();
    clearTimeout(this.timer);
    this.wake?.();
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      while (this.listeners.size > 0 && !this.closed) {
        const started = Date.now();
        const event = await this.tick();
        for (const listener of this.listeners.keys()) listener(event);
        await this.sleep(Math.max(0, this.options.intervalMs - (Date.now() - started)));
      }
    } finally {
      this.running = false;
    }
  }

  private async tick(): Promise<{ snapshot: SaleSnapshot } | { error: string }> {
    try {
      this.reads += 1;
      const reading = await readSale(this.options);
      const products = this.rates.rows(reading);
      const locks = await readLocks(
        this.options,
        hottest(products, this.options.lockCount ?? 5).map((p) => p.productId),
      );
      const snapshot: SaleSnapshot = {
        at: reading.at,
        readMs: Date.now() - reading.at,
        totals: totalsOf(products),
        jobs: reading.jobs,
        workers: reading.workers,
        door: this.door.view(reading.door),
        webhooks: reading.webhooks,
        unserved: reading.unserved,
        products,
        locks,
      };
      this.latest = snapshot;
      return { snapshot };
    } catch (error) {
      this.options.log('warn', 'sale panel read failed', errorFields(error));
      return { error: 'the sale counters could not be read; retrying' };
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, ms);
    });
  }
}
