import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../src/index.ts';

describe('configuration', () => {
  it('refuses an order retention shorter than the Idempotency-Key lifetime, naming both settings', () => {
    assert.throws(
      () => loadConfig({ ORDER_RETENTION_S: '60', IDEMPOTENCY_TTL_S: '120' }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message.includes('ORDER_RETENTION_S') &&
        error.message.includes('IDEMPOTENCY_TTL_S'),
    );
    assert.equal(loadConfig({ ORDER_RETENTION_S: '120', IDEMPOTENCY_TTL_S: '120' }).orderRetentionMs, 120_000);
    assert.equal(loadConfig({}).idempotencyTtlS, 24 * 3600, 'the defaults go together');
  });
});
