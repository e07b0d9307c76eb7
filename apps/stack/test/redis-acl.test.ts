import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, products, runScenario, startApp, startRedis } from '@flashline/test-utils';

/** The least-privilege Redis user the README documents: Flashline's keys only, no dangerous commands. */
export const LEAST_PRIVILEGE = [
  '~sys:*',
  '&*',
  '+@all',
  '-@dangerous',
  '+info',
  '+client|setname',
  '+client|getname',
  '+client|list',
];

describe('Redis ACL user with least privilege', () => {
  it('runs the whole pipeline as an ACL user limited to its keys and safe commands', async (t) => {
    const { report, violations } = await runScenario({
      products: products(5, 100),
      orders: 800,
      seed: 5,
      system: { workers: 2, acl: { user: 'flashline', password: 'acl-password-0123', rules: LEAST_PRIVILEGE } },
      fault: () => sleep(0),
    });
    t.diagnostic(`report ${JSON.stringify(report)}`);
    assert.deepEqual(violations, {});
    assert.equal(report.unknown, 0);
    assert.ok((report.decided.confirmed ?? 0) > 0);
  });

  it('says why it cannot connect when the password is wrong', async () => {
    const redis = await startRedis();
    await redis.client.call('ACL', 'SETUSER', 'flashline', 'on', '>right-password', ...LEAST_PRIVILEGE);
    const api = startApp('apps/api/src/main.ts', {
      REDIS_URL: redis.url.replace('redis://', 'redis://flashline:wrong-password@'),
      PORT: String(await freePort()),
    });
    try {
      const waiting = await api.waitForLog(/waiting for Redis/, 15_000);
      assert.match(String(waiting.error), /WRONGPASS/);
      assert.match(waiting.msg as string, /flashline:\*\*\*@/, 'the password must not reach the logs');
      assert.doesNotMatch(api.output(), /wrong-password/);
    } finally {
      await api.stop('SIGKILL');
      await redis.stop();
    }
  });
});
