import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CommitOrdersCode,
  decodeAcceptBatch,
  decodeAcquireLock,
  decodeCommitOrders,
  decodeFailOrder,
  decodeRateLimit,
} from '../src/index.ts';

// The scripts' real replies are decoded in every Redis test; these check that a reply the module
// does not know is refused loudly instead of read as some outcome.
describe('script replies', () => {
  it('decodes each documented reply to its outcome', () => {
    assert.deepEqual(decodeAcceptBatch(-3, 2), { kind: 'invalid_arguments' });
    assert.deepEqual(
      decodeAcceptBatch(['new', '', 'sold_out', '', 'existing', 'confirmed', 'rate_limited', '250'], 4),
      {
        kind: 'answered',
        orders: [
          { kind: 'new' },
          { kind: 'sold_out' },
          { kind: 'existing', status: 'confirmed' },
          { kind: 'rate_limited', retryInMs: 250 },
        ],
      },
    );
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
    assert.throws(() => decodeAcceptBatch(['new', ''], 2), /acceptBatch: unexpected reply/);
    assert.throws(() => decodeAcceptBatch(['maybe', ''], 1), /acceptBatch: unexpected reply/);
    assert.throws(() => decodeCommitOrders([0, 'confirmed', '', 1], [2]), /commitOrders: unexpected reply/);
    assert.throws(() => decodeCommitOrders([-9, '', '', 0], [1]), /commitOrders: unexpected reply/);
    assert.throws(() => decodeCommitOrders([0, 'rejected', 'bored', 1], [1]), /commitOrders: unexpected reply/);
    assert.throws(() => decodeAcquireLock(0), /acquireLock: unexpected reply/);
    assert.throws(() => decodeFailOrder('rejected'), /failOrder: unexpected reply/);
    assert.throws(() => decodeRateLimit(-5), /rateLimit: unexpected reply/);
  });
});
