import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  SYSTEM_ADMIN_TOKEN,
  mapConcurrent,
  requestJson,
  startSystem,
  submitOrders,
  waitUntilDecided,
  type System,
} from '@flashline/test-utils';

const admin = { authorization: `Bearer ${SYSTEM_ADMIN_TOKEN}` };
const INITIAL = 300;

/**
 * An operator adds and takes away units while the sale runs: the deltas and the sales must add up
 * exactly (initial + Σ accepted deltas = stock left + units sold), with no unit sold beyond what was
 * there. A delta that would take more than is left is refused whole (409) and counts for nothing.
 */
describe('stock changes during a burst', () => {
  let system: System;

  before(async () => {
    system = await startSystem({ workers: 2 });
  });
  after(async () => {
    await system.stop();
  });

  it('sums concurrent deltas and sales exactly', async () => {
    const put = await requestJson(`${system.apiUrl}/products/live`, {
      method: 'PUT',
      body: { stock: INITIAL },
      headers: admin,
    });
    assert.equal(put.status, 200);
    const orders = Array.from({ length: 1500 }, (_, i) => ({ productId: 'live', userId: `b${i}`, quantity: 1 }));
    const deltas = Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? 4 : -3));
    const [submitted, deltaReplies] = await Promise.all([
      submitOrders(system.apiUrl, orders, 32),
      mapConcurrent(deltas, 8, (delta) =>
        requestJson(`${system.apiUrl}/products/live/stock`, { method: 'POST', body: { delta }, headers: admin }),
      ),
    ]);
    const applied = deltas.filter((_, i) => deltaReplies[i]!.status === 200);
    const refused = deltaReplies.filter((r) => r.status !== 200);
    assert.ok(
      refused.every((r) => r.status === 409 && r.body.error?.code === 'insufficient_stock'),
      `a delta failed otherwise: ${JSON.stringify(refused.find((r) => r.status !== 409)?.body)}`,
    );
    const accepted = submitted.filter((s) => s.status === 202).map((s) => s.orderId!);
    const views = await waitUntilDecided(system.apiUrl, accepted, 60_000);
    const confirmed = [...views.values()].filter((v) => v?.status === 'confirmed').length;
    assert.equal(
      [...views.values()].filter((v) => v?.status !== 'confirmed' && v?.status !== 'rejected').length,
      0,
      'orders left undecided',
    );
    const product = (await requestJson(`${system.apiUrl}/products/live`)).body;
    const total = INITIAL + applied.reduce((a, b) => a + b, 0);
    assert.ok(product.stock >= 0, `stock went to ${product.stock}`);
    assert.equal(product.sold, confirmed, 'sold is not the confirmed orders');
    assert.equal(product.stock + product.sold, total, 'units appeared or vanished');
    console.log(
      `# ${applied.length} deltas applied, ${refused.length} refused; ${accepted.length} orders accepted, ` +
        `${confirmed} confirmed; ${INITIAL} + ${total - INITIAL} = ${product.stock} left + ${product.sold} sold`,
    );
  });
});
