import type { Keys } from '../keys/keys.ts';
import type { HoldsQueues } from '../queue/holdsQueue.ts';

/**
 * Deadlines are rounded up to this: the holds of a product whose deadlines fall in one such slot share
 * one timer (a hot product's thousands of holds a second need a few jobs, not thousands), each ended
 * at most this long after its deadline.
 */
export const HOLD_TIMER_SLOT_MS = 250;

/**
 * Sets the expiry timers of holds: one delayed job of the holds queue per product and slot, its id
 * naming both, so a second add of the same timer (another order of the slot, a replayed commit,
 * another worker) is one BullMQ ignores. This process remembers the timers it set, and sets each once.
 * A timer lost anyway (Redis lost its last writes) costs only time: the commit counts an expired hold
 * as free whenever it decides its product, and the reconciler's sweep ends what is left.
 */
export class HoldTimers {
  /** `<productId>~<slot>` → the add, while its slot is ahead: a bounded map (slots behind are pruned). */
  private readonly set = new Map<string, Promise<void>>();
  private lastPrune = 0;

  constructor(
    private readonly queues: HoldsQueues,
    private readonly keys: Keys,
  ) {}

  /** The job id of the timer of the product's hold due at `dueAt` (epoch ms): its product and slot. */
  static jobIdOf(productId: string, dueAt: number): string {
    return `expire~${productId}~${Math.ceil(dueAt / HOLD_TIMER_SLOT_MS) * HOLD_TIMER_SLOT_MS}`;
  }

  /** Makes sure a timer fires for the product's hold due at `dueAt` (epoch ms) within one slot after it. */
  schedule(productId: string, dueAt: number): Promise<void> {
    const slot = Math.ceil(dueAt / HOLD_TIMER_SLOT_MS) * HOLD_TIMER_SLOT_MS;
    const id = `${productId}~${slot}`;
    const known = this.set.get(id);
    if (known) return known;
    this.prune();
    const added = this.queues
      .ofGroup(this.keys.group(productId))
      .add(
        'expire',
        { productId },
        { jobId: HoldTimers.jobIdOf(productId, dueAt), delay: Math.max(0, slot - Date.now()) },
      )
      .then(
        () => undefined,
        (error: unknown) => {
          // Not set: the next hold of the slot tries again.
          this.set.delete(id);
          throw error;
        },
      );
    this.set.set(id, added);
    return added;
  }

  private prune(): void {
    const now = Date.now();
    if (now - this.lastPrune < 1000) return;
    this.lastPrune = now;
    for (const id of this.set.keys()) if (Number(id.slice(id.lastIndexOf('~') + 1)) < now) this.set.delete(id);
  }
}
