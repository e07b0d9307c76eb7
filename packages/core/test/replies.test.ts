import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CommitOrdersCode,
  decodeAcceptOrders,
  decodeAcquireLock,
  decodeCommitOrders,
  decodeFailOrder,
  decodeRateLimit,
} from '../src/index.ts';

// The scripts' real replies are decoded in every Redis test; these check that a reply the module
// does not know is refused loudly instead of read as some outcome.
describe('script replies', () => {
  it('decodes each documented reply to its outcome', () => {
    assert.deepEqual(decodeAcceptOrders(-1, 2), { kind: 'unknown_product' });
    assert.deepEqual(decodeAcceptOrders(['new', -2, 'confirmed'], 3), {
      kind: 'recorded',
      orders: [{ kind: 'new' }, { kind: 'sold_out' }, { kind: 'existing', status: 'confirmed' }],
    });
    assert.deepEqual(decodeCommitOrders([0, 'rejected', 'sold_out', 1, -4, '', '', 0], [1, 1]), {
      kind: 'sections',
      sections: [
        {
          kind: 'decided',
          orders: [{ kind: 'decided', decision: { status: 'rejected', reason: 'sold_out' }, applied: true }],
        },
        { kind: 'lock_held' },
      ],
    });
    assert.deepEqual(decodeCommitOrders(CommitOrdersCode.invalidArguments, [1]), { kind: 'invalid_arguments' });
    assert.deepEqual(decodeAcquireLock(7), { kind: 'acquired', fence: 7 });
    assert.deepEqual(decodeFailOrder(-1), { kind: 'missing' });
    assert.deepEqual(decodeRateLimit(250), { kind: 'refused', retryInMs: 250 });
  });

  it('refuses a reply no script documents', () => {
    assert.throws(() => decodeAcceptOrders(['new'], 2), /acceptOrders: unexpected reply/);
    assert.throws(() => decodeAcceptOrders(['maybe'], 1), /acceptOrders: unexpected reply/);
    assert.throws(() => decodeCommitOrders([0, 'confirmed', '', 1], [2]), /commitOrders: unexpected reply/);
    assert.throws(() => decodeCommitOrders([-9, '', '', 0], [1]), /commitOrders: unexpected reply/);
    assert.throws(() => decodeCommitOrders([0, 'rejected', 'bored', 1], [1]), /commitOrders: unexpected reply/);
    assert.throws(() => decodeAcquireLock(0), /acquireLock: unexpected reply/);
    assert.throws(() => decodeFailOrder('rejected'), /failOrder: unexpected reply/);
    assert.throws(() => decodeRateLimit(-5), /rateLimit: unexpected reply/);
  });
});
