/**
 * Group commit: items that arrive while a batch is being written wait here and go together in the
 * next. A batch goes when none is being written, or at once when it is full: under load one write
 * is in flight while the next batch fills, and a full batch never waits for a slow one. Nothing
 * waits on a timer: a lone item goes at the next turn of the event loop (the items parsed in the
 * same turn join it), so batches only grow when requests overlap, which is exactly when round
 * trips are worth saving. `write` answers every item of its batch itself and never rejects.
 */
export class GroupCommit<T> {
  private waiting: T[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly maxBatch: number,
    private readonly write: (batch: T[]) => Promise<void>,
  ) {}

  push(item: T): void {
    this.waiting.push(item);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || (this.inFlight > 0 && this.waiting.length < this.maxBatch)) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.waiting.length === 0) return;
      const batch = this.waiting.splice(0, this.maxBatch);
      this.inFlight += 1;
      void this.write(batch).finally(() => {
        this.inFlight -= 1;
        if (this.waiting.length > 0) this.schedule();
      });
      if (this.waiting.length > 0) this.schedule();
    });
  }
}
