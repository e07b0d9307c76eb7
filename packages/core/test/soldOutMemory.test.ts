import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SoldOutMemory } from '../src/index.ts';

describe('sold-out memory', () => {
  it('refuses what Redis said is not there, for at most ttl, and only for as many units or more', () => {
    let now = 1000;
    const memory = new SoldOutMemory(1000, () => now);
    assert.equal(memory.refuses('p', 1), false, 'knows nothing yet');
    memory.remember('p', 3); // fewer than 3 left
    assert.equal(memory.refuses('p', 3), true);
    assert.equal(memory.refuses('p', 5), true);
    assert.equal(memory.refuses('p', 2), false, '2 units may still be there');
    memory.remember('p', 1); // none left
    assert.equal(memory.refuses('p', 1), true);
    assert.equal(memory.refuses('other', 1), false);
    now += 999;
    assert.equal(memory.refuses('p', 1), true);
    now += 1; // a restock must be seen within the ttl
    assert.equal(memory.refuses('p', 1), false);
  });
});
