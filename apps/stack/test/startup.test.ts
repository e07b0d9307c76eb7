import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import { freePort, startApp, useRedisServer } from '@flashline/test-utils';

/** The JSON lines a process wrote. */
const linesOf = (output: string) =>
  output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { msg: string; [field: string]: unknown });

/** A PUT on a connection of its own: the pool hands each new connection to its processes in turn. */
function putProduct(url: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'PUT',
        agent: false,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ stock: 1 }));
  });
}

describe('starting without Redis, as a new user meets it', () => {
  for (const app of ['api', 'worker', 'dashboard']) {
    it(
      `the ${app} with REDIS_URL pointing at nothing: one line every few seconds, never ready, then exit 1 saying what to do`,
      { timeout: 90_000 },
      async () => {
        const nothing = `redis://127.0.0.1:${await freePort()}`;
        const child = startApp(`apps/${app}/src/main.ts`, {
          REDIS_URL: nothing,
          REDIS_CONNECT_TIMEOUT_S: '6',
          PORT: String(await freePort()),
          DASHBOARD_PORT: String(await freePort()),
          API_PROCESSES: '2',
        });
        const code = await child.stop('SIGCONT'); // a signal it ignores: wait for it to exit by itself
        const lines = linesOf(child.output());
        assert.equal(code, 1, child.output());
        assert.ok(
          lines.some((l) => l.msg === `waiting for Redis at ${nothing}`),
          child.output(),
        );
        const refusal = lines.find((l) => l.msg.startsWith(`Redis at ${nothing} did not answer within`));
        assert.ok(refusal && /REDIS_CONNECT_TIMEOUT_S/.test(refusal.msg), child.output());
        assert.ok(!lines.some((l) => /listening|ready/.test(l.msg)), `claimed to be ready:\n${child.output()}`);
        assert.ok(!/ECONNREFUSED\s+at|Unhandled error/.test(child.output()), 'no raw error dumps');
        // About one line per 5 s per process (two in the API pool), the secrets and the refusal: not one per retry.
        assert.ok(child.output().split('\n').length < 20, child.output());
      },
    );
  }
});

describe('the API pool without ADMIN_TOKEN', () => {
  const ctx = useRedisServer();

  it('generates one admin token for the whole pool: every process accepts it', async () => {
    const port = await freePort();
    const api = startApp('apps/api/src/main.ts', {
      REDIS_URL: ctx.server.url,
      PORT: String(port),
      API_PROCESSES: '2',
    });
    try {
      const secrets = (await api.waitForLog(/generated secrets/, 30_000)) as { ADMIN_TOKEN?: string };
      await api.waitForLog(/^api listening$/, 30_000);
      assert.equal(linesOf(api.output()).filter((l) => l.msg.startsWith('generated secrets')).length, 1);
      const token = secrets.ADMIN_TOKEN!;
      const statuses = [];
      for (let i = 0; i < 6; i++) statuses.push(await putProduct(`http://127.0.0.1:${port}/products/p${i}`, token));
      assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200]);
    } finally {
      assert.equal(await api.stop(), 0);
    }
  });
});
