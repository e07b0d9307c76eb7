import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createJobDataRedactor } from '../src/board/redactJobData.ts';

describe("the viewer's redaction of job data", () => {
  const redact = createJobDataRedactor(Buffer.alloc(32, 7));

  it('pseudonymizes the buyer of a lone order and hides unknown fields', () => {
    const shown = redact({
      orderId: 'tv.AAAAAAAAAAAAAAAA',
      productId: 'tv',
      userId: 'alice',
      quantity: 1,
      note: 'secret',
    }) as Record<string, unknown>;
    assert.match(String(shown.userId), /^user-[0-9a-f]{10}$/);
    assert.deepEqual(
      { ...shown, userId: 'x' },
      { orderId: 'tv.AAAAAAAAAAAAAAAA', productId: 'tv', userId: 'x', quantity: 1, note: '[redacted]' },
    );
  });

  it('redacts every order of a batch job alike, one pseudonym per buyer', () => {
    const shown = redact({
      orders: [
        { orderId: 'tv.AAAAAAAAAAAAAAAA', productId: 'tv', userId: 'alice', quantity: 1 },
        { orderId: 'tv.BBBBBBBBBBBBBBBB', productId: 'tv', userId: 'bob', quantity: 2, note: 'secret' },
        { orderId: 'pc.CCCCCCCCCCCCCCCC', productId: 'pc', userId: 'alice', quantity: 1 },
      ],
    }) as { orders: Record<string, unknown>[] };
    assert.equal(shown.orders.length, 3);
    assert.doesNotMatch(JSON.stringify(shown), /alice|bob|secret/);
    assert.equal(shown.orders[0]!.userId, shown.orders[2]!.userId);
    assert.notEqual(shown.orders[0]!.userId, shown.orders[1]!.userId);
    assert.equal(shown.orders[1]!.quantity, 2);
  });

  it('hides a batch that carries anything besides its orders', () => {
    assert.deepEqual(redact({ orders: [], extra: 'x' }), { orders: '[redacted]', extra: '[redacted]' });
  });

  it('shows a webhook job its event and order state, the buyer pseudonymized, unknown fields hidden', () => {
    const shown = redact({
      event: 'tv.AAAAAAAAAAAAAAAA.1',
      type: 'order.confirmed',
      at: '1764709200000',
      order: { productId: 'tv', userId: 'alice', quantity: '1', status: 'confirmed', seq: '1', note: 'secret' },
    }) as { event: string; order: Record<string, unknown> };
    assert.doesNotMatch(JSON.stringify(shown), /alice|secret/);
    assert.equal(shown.event, 'tv.AAAAAAAAAAAAAAAA.1');
    assert.match(String(shown.order.userId), /^user-[0-9a-f]{10}$/);
    assert.deepEqual(
      { ...shown.order, userId: 'x' },
      {
        productId: 'tv',
        userId: 'x',
        quantity: '1',
        status: 'confirmed',
        seq: '1',
        note: '[redacted]',
      },
    );
    assert.equal(shown.order.userId, (redact({ orderId: 'o', userId: 'alice' }) as { userId: string }).userId);
  });
});
