import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { noDoorCounts, type DoorCopy } from '@flashline/core';
import { DoorRates } from '../src/sale/doorRates.ts';

/** A copy of API process `id` at `at` (its own clock), with `accepted` orders and as many requests. */
const copy = (id: string, startedAt: number, at: number, accepted: number): DoorCopy => {
  const counts = noDoorCounts();
  counts.requests = accepted;
  counts.orders.accepted = accepted;
  return { id, startedAt, at, ...counts };
};

describe('the door on the panel: rates summed over API processes', () => {
  it('sums two processes, each rated on its own clock', () => {
    const rates = new DoorRates(5000);
    // Two machines whose clocks are an hour apart: each rate comes from its own copies.
    const skew = 3_600_000;
    rates.view([copy('a', 0, 10_000, 100), copy('b', skew, skew + 10_000, 50)]);
    const view = rates.view([copy('a', 0, 12_000, 300), copy('b', skew, skew + 11_000, 80)]);
    assert.equal(view.processes, 2);
    assert.equal(view.total.orders.accepted, 380);
    assert.equal(view.perSecond.orders.accepted, 100 + 30);
    assert.equal(view.perSecond.requests, 130);
  });

  it('rates a process seen once over its age only when it just started, and forgets one that stopped', () => {
    const rates = new DoorRates(5000);
    assert.equal(rates.view([copy('new', 1000, 3000, 40)]).perSecond.orders.accepted, 20);
    assert.equal(rates.view([copy('old', 0, 60_000, 6000)]).perSecond.orders.accepted, 0, 'a lifetime average');
    // The same copy read again (no new write yet) keeps the rate from two distinct copies.
    rates.view([copy('old', 0, 61_000, 6100)]);
    assert.equal(rates.view([copy('old', 0, 61_000, 6100)]).perSecond.orders.accepted, 100);
    // A restart is a new id; the old one's counts leave the total.
    const view = rates.view([copy('old-restarted', 62_000, 62_500, 10)]);
    assert.deepEqual([view.processes, view.total.orders.accepted], [1, 10]);
    assert.equal(view.perSecond.orders.accepted, 20);
  });

  it('takes the rate over the window, not the last copy alone', () => {
    const rates = new DoorRates(3000);
    for (let s = 0; s <= 10; s++) rates.view([copy('a', 0, 1000 * s, s % 2 === 0 ? 100 * s : 100 * s - 50)]);
    // Uneven copies (50 then 150 a second) read as the window's mean.
    const rate = rates.view([copy('a', 0, 11_000, 1050)]).perSecond.orders.accepted;
    assert.ok(rate > 80 && rate < 120, `rate ${rate}`);
  });
});
