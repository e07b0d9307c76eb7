/**
 * How long to wait before starting again a process that died: 0.5 s, doubling to 30 s, so a process
 * that crashes at start-up does not spin. One that ran a minute counts as healthy again. Shared by the
 * API pool (processPool.ts) and `npm start`'s supervisor.
 */
export class RestartBackoff {
  private restarts = 0;
  private startedAt = Date.now();

  /** Call when the process starts (again). */
  started(now = Date.now()): void {
    this.startedAt = now;
  }

  /** Call when it died: the delay before the next start. */
  next(now = Date.now()): number {
    if (now - this.startedAt > 60_000) this.restarts = 0;
    const delay = Math.min(500 * 2 ** this.restarts, 30_000);
    this.restarts += 1;
    return delay;
  }
}
