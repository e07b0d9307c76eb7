import { DOOR_OUTCOMES, noDoorCounts, sumDoorCounts, type DoorCopy, type DoorCounts } from '@flashline/core';

/** The front door as the panel shows it: every live API process summed. */
export interface DoorView {
  /** API processes publishing now. */
  processes: number;
  /** Counted since each of them started. */
  total: DoorCounts;
  /** A second, over the last few seconds. */
  perSecond: DoorCounts;
}

/**
 * Turns the API processes' published copies into rates. Each process's rate is taken from two of
 * its own copies (its own clock: machines' clocks never meet), over a window of a few seconds so a
 * copy written just before or after a read does not make the rate jump; then the rates are summed.
 * One that stopped publishing is dropped (its counts leave the total: it serves nothing more), and
 * one that restarts is a new process (a new id, counting from zero).
 */
export class DoorRates {
  private readonly copies = new Map<string, DoorCopy[]>();

  constructor(private readonly windowMs: number) {}

  view(live: readonly DoorCopy[]): DoorView {
    const ids = new Set(live.map((copy) => copy.id));
    for (const id of this.copies.keys()) if (!ids.has(id)) this.copies.delete(id);
    const rates = live.map((copy) => this.rateOf(copy));
    return { processes: live.length, total: sumDoorCounts(live), perSecond: sumDoorCounts(rates) };
  }

  private rateOf(copy: DoorCopy): DoorCounts {
    let history = this.copies.get(copy.id);
    if (!history) this.copies.set(copy.id, (history = []));
    if (history.at(-1)?.at !== copy.at) history.push(copy);
    while (history.length > 2 && copy.at - history[1]!.at >= this.windowMs) history.shift();
    const first = history[0]!;
    // Seen once: a process started within the window counted all it did over its age; an older one
    // has no rate yet (its lifetime's average is not the rate of now).
    const young = copy.at - copy.startedAt <= this.windowMs;
    const [from, since] = history.length > 1 ? [first, first.at] : [noDoorCounts(), young ? copy.startedAt : copy.at];
    const seconds = (copy.at - since) / 1000;
    const rate = (now: number, then: number) => (seconds > 0 ? Math.max(0, now - then) / seconds : 0);
    const perSecond = noDoorCounts();
    perSecond.requests = rate(copy.requests, from.requests);
    for (const outcome of DOOR_OUTCOMES) perSecond.orders[outcome] = rate(copy.orders[outcome], from.orders[outcome]);
    return perSecond;
  }
}
