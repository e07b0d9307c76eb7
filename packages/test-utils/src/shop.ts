import { setTimeout as sleep } from 'node:timers/promises';
import { requestJson } from './http.ts';
import { SYSTEM_ADMIN_TOKEN } from './system.ts';

/** What the shop does with the holds of a sale: shares of the accepted orders it confirms and cancels (the rest expire). */
export interface ShopPlan {
  confirm: number;
  cancel: number;
  /** Each action waits a random time up to this after the order's 202 (longer than the hold: some come too late). */
  maxDelayMs: number;
  seed: number;
}

/** One action of the shop and the last answer it got (status 0: unknown after every try). */
export interface ShopOutcome {
  orderId: string;
  action: 'confirm' | 'cancel';
  status: number;
  code?: string;
  /** The order's status in a 200's body. */
  orderStatus?: string;
}

/**
 * The shop's backend during a sale with holds: for each accepted order (as the burst reports it) it
 * confirms or cancels the hold after a while, or leaves it to expire. Like a careful backend it waits
 * while the order is still `queued` (409 not_reserved, and GET does not say rejected) and retries an unknown
 * outcome (5xx, timeout), the same request again: confirm and cancel are idempotent.
 */
export function startShop(apiUrl: string, plan: ShopPlan) {
  const actions: Promise<ShopOutcome | undefined>[] = [];
  let state = plan.seed;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
  const admin = { authorization: `Bearer ${SYSTEM_ADMIN_TOKEN}` };

  async function act(orderId: string, action: 'confirm' | 'cancel', delayMs: number): Promise<ShopOutcome> {
    await sleep(delayMs);
    let last: ShopOutcome = { orderId, action, status: 0 };
    for (let attempt = 1; attempt <= 60; attempt++) {
      const reply = await requestJson(`${apiUrl}/orders/${orderId}/${action}`, {
        method: 'POST',
        headers: admin,
        timeoutMs: 5000,
      });
      last = {
        orderId,
        action,
        status: reply.status,
        ...(reply.body?.error ? { code: reply.body.error.code } : {}),
        ...(reply.status === 200 ? { orderStatus: reply.body.status } : {}),
      };
      if (reply.status === 409 && last.code === 'not_reserved') {
        const order = await requestJson(`${apiUrl}/orders/${orderId}`, { headers: admin, timeoutMs: 5000 });
        // Rejected: nothing to do. Queued, or decided since the 409 (reserved, or ended): ask again.
        if (order.status === 200 && order.body.status === 'rejected') return last;
      } else if (reply.status !== 0 && reply.status < 500) {
        return last;
      }
      await sleep(Math.min(100 * attempt, 1000));
    }
    return last;
  }

  return {
    /** Pass each request's outcome as it comes (submitBurst's onOutcome). */
    onOutcome: (outcome: { status: number; orderId?: string }): void => {
      if (outcome.status !== 202 || !outcome.orderId) return;
      const roll = next();
      const delayMs = Math.floor(next() * plan.maxDelayMs);
      if (roll < plan.confirm) actions.push(act(outcome.orderId, 'confirm', delayMs));
      else if (roll < plan.confirm + plan.cancel) actions.push(act(outcome.orderId, 'cancel', delayMs));
    },
    /** Every action's last answer, once all have ended. */
    async done(): Promise<ShopOutcome[]> {
      return (await Promise.all(actions)).filter((a): a is ShopOutcome => a !== undefined);
    },
  };
}
