import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CommitOrdersCode,
  decodeAcceptBatch,
  decodeClaimBuyers,
  decodeRecordOrders,
  decodeReleaseBuyers,
  decodeAcquireLock,
  decodeCommitOrders,
  decodeFailOrder,
  decodeRateLimit,
} from '../src/index.ts';

// The scripts' real replies are decoded in every Redis test; these check that a reply the module
// does not know is refused loudly instead of read as some outcome.
describe('script replies', () => {
  it('decodes each documented reply to its outcome', () => {
    assert.deepEqual(decodeClaimBuyers(-3, 2), { kind: 'invalid_arguments' });
    assert.deepEqual(decodeClaimBuyers(['claimed', '', 'bound', 'p.A', 'reused', '', 'rate_limited', '250'], 4), {
      kind: 'answered',
      items: [
        { kind: 'claimed' },
        { kind: 'bound', orderId: 'p.A' },
        { kind: 'reused' },
        { kind: 'rate_limited', retryInMs: 250 },
      ],
    });
    assert.deepEqual(
      decodeRecordOrders(['new', '', 'sold_out', '', 'existing', 'confirmed', 'unknown_product', ''], 4),
      {
        kind: 'answered',
        items: [
          { kind: 'new' },
          { kind: 'sold_out' },
          { kind: 'existing', status: 'confirmed' },
          { kind: 'unknown_product' },
        ],
      },
    );
    assert.deepEqual(decodeReleaseBuyers(2), { kind: 'released', count: 2 });
    assert.deepEqual(decodeAcceptBatch(['bound', 'p.A', 'reused', '', 'new', ''], 3), {
      kind: 'answered',
      items: [{ kind: 'bound', orderId: 'p.A' }, { kind: 'reused' }, { kind: 'new' }],
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
    assert.throws(() => decodeRecordOrders(['new', ''], 2), /recordOrders: unexpected reply/);
    assert.throws(() => decodeRecordOrders(['maybe', ''], 1), /recordOrders: unexpected reply/);
    assert.throws(() => decodeClaimBuyers(['bound', ''], 1), /claimBuyers: unexpected reply/);
    assert.throws(() => decodeReleaseBuyers('1'), /releaseBuyers: unexpected reply/);
    assert.throws(() => decodeCommitOrders([0, 'confirmed', '', 1], [2]), /commitOrders: unexpected reply/);
    assert.throws(() => decodeCommitOrders([-9, '', '', 0], [1]), /commitOrders: unexpected reply/);
    assert.throws(() => decodeCommitOrders([0, 'rejected', 'bored', 1], [1]), /commitOrders: unexpected reply/);
    assert.throws(() => decodeAcquireLock(0), /acquireLock: unexpected reply/);
    assert.throws(() => decodeFailOrder('rejected'), /failOrder: unexpected reply/);
    assert.throws(() => decodeRateLimit(-5), /rateLimit: unexpected reply/);
  });
});
