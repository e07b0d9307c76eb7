import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MAX_RETRY_DELAY_MS,
  RETRY_SPAN_MS,
  attemptsToSpan,
  retryDelayMs,
  retrySpanMs,
  webhookJobOptions,
} from '../src/index.ts';

const HOUR = 3600 * 1000;

describe('webhook retry schedule', () => {
  it('doubles from the base, capped at an hour', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 12, 13, 30].map((retry) => retryDelayMs(retry, 1000)),
      [1000, 2000, 4000, 8000, 2048 * 1000, HOUR, HOUR],
    );
    assert.equal(MAX_RETRY_DELAY_MS, HOUR);
  });

  it('spans at least 24 hours with the fewest attempts: 36 from a 1 s base (24.1 h)', () => {
    assert.equal(attemptsToSpan(1000), 36);
    assert.equal(retrySpanMs(36, 1000), 4095 * 1000 + 23 * HOUR);
    for (const base of [1, 50, 1000, 60_000, HOUR]) {
      const attempts = attemptsToSpan(base);
      assert.ok(retrySpanMs(attempts, base) >= RETRY_SPAN_MS, `base ${base}: under 24 h`);
      assert.ok(retrySpanMs(attempts - 1, base) < RETRY_SPAN_MS, `base ${base}: an attempt more than needed`);
    }
    assert.equal(webhookJobOptions({ backoffBaseMs: 1000 }).attempts, 36);
  });
});
