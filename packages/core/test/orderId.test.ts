import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newOrderId, productOfOrder } from '../src/index.ts';

describe('order ids', () => {
  it('are unique across many refills of the random pool, and name their product', () => {
    const ids = new Set(Array.from({ length: 20_000 }, () => newOrderId('tv-1')));
    assert.equal(ids.size, 20_000, 'an order id repeated');
    for (const id of [...ids].slice(0, 600)) assert.equal(productOfOrder(id), 'tv-1', `bad id ${id}`);
  });

  it('refuses ids that are not ours', () => {
    for (const id of ['', 'tv-1', '.abcdefghijklmnop', 'tv-1.short', 'tv:1.abcdefghijklmnop'])
      assert.equal(productOfOrder(id), null, id);
  });
});
