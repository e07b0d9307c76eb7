/**
 * What one API process has lately learned about sold-out products, so that the storm of orders
 * after a sale ends is answered `409 sold_out` without a Redis round trip each.
 *
 * An entry says "at time T, fewer than N units were left". Stock only shrinks between restocks,
 * so the entry stays true until a restock; it is trusted for `ttlMs` (a second by default), which is
 * how soon a restock is seen. Until then a restocked product may be refused: never oversold.
 */
export class SoldOutMemory {
  private readonly entries = new Map<string, { fewerThan: number; at: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** True when `quantity` units are known not to be there. */
  refuses(productId: string, quantity: number): boolean {
    const entry = this.entries.get(productId);
    if (!entry) return false;
    if (this.now() - entry.at >= this.ttlMs) {
      this.entries.delete(productId);
      return false;
    }
    return quantity >= entry.fewerThan;
  }

  /** Redis said fewer than `fewerThan` units are left. */
  remember(productId: string, fewerThan: number): void {
    const entry = this.entries.get(productId);
    const fresh = entry && this.now() - entry.at < this.ttlMs;
    this.entries.set(productId, {
      fewerThan: fresh ? Math.min(entry.fewerThan, fewerThan) : fewerThan,
      at: this.now(),
    });
  }
}
