import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import {
  AppError,
  expireHolds,
  getOrder,
  getProduct,
  settleHold,
  setProduct,
  type Keys,
  type OrderJob,
} from '../src/index.ts';
import { claimAndCommit, order, recordAsAccepted, uniqueKeys, useRedis } from './helpers.ts';

const RULES = { maxQuantity: 10, orderRetentionMs: 60_000 };
const HOLDS = { orderRetentionMs: 60_000, events: false };

describe('held units (holdSeconds)', () => {
  const ctx = useRedis();
  const decide = async (keys: Keys, productId: string, orders: OrderJob[]) => {
    const results = await claimAndCommit(ctx.redis, keys, productId, orders, RULES);
    assert.ok(results, 'the lock was free');
    return results.map((r) => {
      if (r instanceof Error) throw r;
      return r;
    });
  };
  /** Every figure the invariant names: free + held + sold = initial, and the buyers' ledger. */
  const figures = async (keys: Keys, productId: string) => {
    const product = (await getProduct(ctx.redis, keys, productId))!;
    const buyers = await ctx.redis.hgetall(keys.buyers(productId));
    const holds = await ctx.redis.zcard(keys.holds(productId));
    return { stock: product.stock, reserved: product.reserved, sold: product.sold, holds, buyers };
  };

  it('reserves a won order until its deadline; confirm sells it, once', async () => {
    const keys = uniqueKeys();
    await setProduct(ctx.redis, keys, 'p', { stock: 5, holdSeconds: 60 });
    const a = order('p', 'ann', 2);
    const before = Date.now();
    const [result] = await decide(keys, 'p', [a]);
    assert.equal(result!.decision.status, 'reserved');
    assert.ok(result!.applied);
    const held = (await getOrder(ctx.redis, keys, a.orderId))!;
    assert.equal(held.status, 'reserved');
    const deadline = Date.parse(held.holdExpiresAt!);
    assert.ok(deadline >= before + 59_000 && deadline <= Date.now() + 61_000, `deadline ${held.holdExpiresAt}`);
    assert.equal(await ctx.redis.ttl(keys.order('p', a.orderId)), -1, 'a held order must not expire');
    assert.deepEqual(await figures(keys, 'p'), { stock: 3, reserved: 2, sold: 0, holds: 1, buyers: { ann: '2' } });

    const confirmed = await settleHold(ctx.redis, keys, a.orderId, 'confirm', HOLDS);
    assert.equal(confirmed.status, 'confirmed');
    assert.ok(confirmed.confirmedAt);
    assert.deepEqual(await figures(keys, 'p'), { stock: 3, reserved: 0, sold: 2, holds: 0, buyers: { ann: '2' } });
    // A repeat answers the order as it is and sells nothing more; cancel is refused.
    assert.equal((await settleHold(ctx.redis, keys, a.orderId, 'confirm', HOLDS)).status, 'confirmed');
    await assert.rejects(settleHold(ctx.redis, keys, a.orderId, 'cancel', HOLDS), { code: 'already_confirmed' });
    assert.deepEqual(await figures(keys, 'p'), { stock: 3, reserved: 0, sold: 2, holds: 0, buyers: { ann: '2' } });
    assert.ok((await ctx.redis.ttl(keys.order('p', a.orderId))) > 0, 'an ended order expires after its retention');
    // A replay of the commit reports the decision it made, and changes nothing.
    const [replay] = await decide(keys, 'p', [a]);
    assert.equal(replay!.applied, false);
    assert.deepEqual(await figures(keys, 'p'), { stock: 3, reserved: 0, sold: 2, holds: 0, buyers: { ann: '2' } });
  });

  it('cancel gives the units and the buyer count back, once; confirm of it is order_cancelled', async () => {
    const keys = uniqueKeys();
    await setProduct(ctx.redis, keys, 'p', { stock: 4, holdSeconds: 60, perUserLimit: 2 });
    const a = order('p', 'ann', 2);
    await decide(keys, 'p', [a]);
    const cancelled = await settleHold(ctx.redis, keys, a.orderId, 'cancel', HOLDS);
    assert.equal(cancelled.status, 'cancelled');
    assert.ok(cancelled.cancelledAt);
    assert.equal((await settleHold(ctx.redis, keys, a.orderId, 'cancel', HOLDS)).status, 'cancelled');
    await assert.rejects(settleHold(ctx.redis, keys, a.orderId, 'confirm', HOLDS), { code: 'order_cancelled' });
    assert.deepEqual(await figures(keys, 'p'), { stock: 4, reserved: 0, sold: 0, holds: 0, buyers: {} });
    // The buyer's limit counts only units still won: ann may buy 2 again.
    const [again] = await decide(keys, 'p', [order('p', 'ann', 2)]);
    assert.equal(again!.decision.status, 'reserved');
  });

  it('confirm or cancel of an order that holds nothing is not_reserved; of no order, not_found', async () => {
    const keys = uniqueKeys();
    await setProduct(ctx.redis, keys, 'p', { stock: 1, holdSeconds: 60 });
    const queued = order('p', 'q', 1);
    await recordAsAccepted(ctx.redis, keys, [queued]);
    const [, rejected] = [await decide(keys, 'p', [order('p', 'w', 1)]), order('p', 'r', 1)];
    const [lost] = await decide(keys, 'p', [rejected]);
    assert.equal(lost!.decision.status, 'rejected');
    for (const id of [queued.orderId, rejected.orderId])
      for (const action of ['confirm', 'cancel'] as const)
        await assert.rejects(settleHold(ctx.redis, keys, id, action, HOLDS), { code: 'not_reserved' });
    await assert.rejects(settleHold(ctx.redis, keys, 'p.0000000000000999', 'confirm', HOLDS), { code: 'not_found' });
    await assert.rejects(settleHold(ctx.redis, keys, 'not-an-id', 'confirm', HOLDS), { code: 'not_found' });
  });

  it('a hold past its deadline ends expired, its units free; confirm is hold_expired; a late timer gives nothing twice', async () => {
    const keys = uniqueKeys();
    await setProduct(ctx.redis, keys, 'p', { stock: 3, holdSeconds: 1 });
    const a = order('p', 'ann', 2);
    const b = order('p', 'bob', 1);
    await decide(keys, 'p', [a, b]);
    assert.deepEqual(await figures(keys, 'p'), {
      stock: 0,
      reserved: 3,
      sold: 0,
      holds: 2,
      buyers: { ann: '2', bob: '1' },
    });
    await settleHold(ctx.redis, keys, b.orderId, 'confirm', HOLDS);
    await sleep(1100);
    // The timer's work: only ann's hold is still held; bob's was paid.
    const released = await expireHolds(ctx.redis, keys, 'p', HOLDS);
    assert.deepEqual(released, { units: 2, looked: 1, nextDueAt: null });
    assert.deepEqual(await expireHolds(ctx.redis, keys, 'p', HOLDS), { units: 0, looked: 0, nextDueAt: null });
    const expired = (await getOrder(ctx.redis, keys, a.orderId))!;
    assert.equal(expired.status, 'expired');
    assert.ok(expired.expiredAt);
    await assert.rejects(settleHold(ctx.redis, keys, a.orderId, 'confirm', HOLDS), { code: 'hold_expired' });
    assert.equal((await settleHold(ctx.redis, keys, a.orderId, 'cancel', HOLDS)).status, 'expired');
    assert.deepEqual(await figures(keys, 'p'), { stock: 2, reserved: 0, sold: 1, holds: 0, buyers: { bob: '1' } });
  });

  it('a confirm past the deadline, before any timer, is hold_expired and frees the units', async () => {
    const keys = uniqueKeys();
    await setProduct(ctx.redis, keys, 'p', { stock: 1, holdSeconds: 1 });
    const a = order('p', 'ann', 1);
    await decide(keys, 'p', [a]);
    await sleep(1100);
    await assert.rejects(settleHold(ctx.redis, keys, a.orderId, 'confirm', HOLDS), { code: 'hold_expired' });
    assert.deepEqual(await figures(keys, 'p'), { stock: 1, reserved: 0, sold: 0, holds: 0, buyers: {} });
  });

  it('the commit counts expired holds as free though no timer ran: the next buyer wins them', async () => {
    const keys = uniqueKeys();
    await setProduct(ctx.redis, keys, 'p', { stock: 2, holdSeconds: 1 });
    const first = order('p', 'ann', 2);
    await decide(keys, 'p', [first]);
    const [early] = await decide(keys, 'p', [order('p', 'early', 1)]);
    assert.equal(early!.decision.status, 'rejected', 'the units are held');
    await sleep(1100);
    // No timer, no sweep, no read of the product: only the commit.
    const [late] = await decide(keys, 'p', [order('p', 'late', 2)]);
    assert.equal(late!.decision.status, 'reserved');
    assert.equal((await getOrder(ctx.redis, keys, first.orderId))!.status, 'expired');
    const raw = await ctx.redis.hmget(keys.product('p'), 'stock', 'reserved', 'holds:expired', 'holds:units', 'held');
    assert.deepEqual(raw, ['0', '2', '2', '4', '2']);
    assert.deepEqual(await ctx.redis.hgetall(keys.buyers('p')), { late: '2' });
  });

  it('a read of the product ends expired holds first: it never shows their units as held', async () => {
    const keys = uniqueKeys();
    await setProduct(ctx.redis, keys, 'p', { stock: 2, holdSeconds: 1 });
    await decide(keys, 'p', [order('p', 'ann', 2)]);
    await sleep(1100);
    const product = (await getProduct(ctx.redis, keys, 'p', HOLDS))!;
    assert.equal(product.stock, 2);
    assert.equal(product.reserved, 0);
    assert.equal(product.holdSeconds, 1);
  });

  it('writes one webhook outbox entry per change, with a stable id and sequence', async () => {
    const keys = uniqueKeys();
    await setProduct(ctx.redis, keys, 'p', { stock: 1, holdSeconds: 60 });
    const a = order('p', 'ann', 1);
    const b = order('p', 'bob', 1);
    await claimAndCommit(ctx.redis, keys, 'p', [a, b], { ...RULES, events: true });
    const events = { ...HOLDS, events: true };
    await settleHold(ctx.redis, keys, a.orderId, 'confirm', events);
    await settleHold(ctx.redis, keys, a.orderId, 'confirm', events); // a repeat: no event
    const entries = await ctx.redis.xrange(keys.outbox(keys.group('p')), '-', '+');
    const seen = entries.map(([, flat]) => {
      const f: Record<string, string> = {};
      for (let i = 0; i < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!;
      return [f.event, f.type, f.status, f.seq];
    });
    assert.deepEqual(seen, [
      [`${a.orderId}.1`, 'order.reserved', 'reserved', '1'],
      [`${b.orderId}.1`, 'order.rejected', 'rejected', '1'],
      [`${a.orderId}.2`, 'order.confirmed', 'confirmed', '2'],
    ]);
    // Without webhooks, nothing is written.
    const quiet = uniqueKeys();
    await setProduct(ctx.redis, quiet, 'p', { stock: 1, holdSeconds: 60 });
    await claimAndCommit(ctx.redis, quiet, 'p', [order('p', 'c', 1)], RULES);
    assert.equal(await ctx.redis.exists(quiet.outbox(quiet.group('p'))), 0);
  });

  it('holdSeconds is kept when absent, removed by null, and refused outside 1..86400', async () => {
    const keys = uniqueKeys();
    assert.equal((await setProduct(ctx.redis, keys, 'p', { stock: 1, holdSeconds: 30 })).product.holdSeconds, 30);
    assert.equal((await setProduct(ctx.redis, keys, 'p', { stock: 1 })).product.holdSeconds, 30);
    assert.equal((await setProduct(ctx.redis, keys, 'p', { stock: 1, holdSeconds: null })).product.holdSeconds, null);
    const [won] = await decide(keys, 'p', [order('p', 'ann', 1)]);
    assert.equal(won!.decision.status, 'confirmed', 'without holdSeconds an order is confirmed at once');
    for (const bad of ['86401', '-1', '1.5', 'x'])
      await assert.rejects(
        ctx.redis.setProduct([keys.product('p'), keys.productsOfGroup(keys.group('p')), 'p', 1, '', '', '', bad, 0]),
        /invalid holdSeconds/,
      );
    assert.ok(AppError);
  });
});
