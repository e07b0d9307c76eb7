import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { freePort, repoRoot, requestJson, startApp, useRedisServer, wrap } from '@flashline/test-utils';

describe('npm start', () => {
  const ctx = useRedisServer();

  it('brings the whole stack up, answers /readyz, and stops with exit 0 on SIGTERM', async () => {
    const [port, dashboardPort] = [await freePort(), await freePort()];
    // Its own process group, as a terminal runs it, so the signal reaches npm and what it started.
    const child = spawn('npm', ['start', '--silent'], {
      cwd: repoRoot,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        NODE_ENV: 'development',
        REDIS_URL: ctx.server.url,
        PORT: String(port),
        DASHBOARD_PORT: String(dashboardPort),
        WORKERS: '2',
        KEY_PREFIX: 'start',
      },
    });
    const stack = wrap(child);
    try {
      const ready = await stack.waitForLog(/stack ready/, 60_000);
      assert.equal(ready.api, `http://127.0.0.1:${port}`);
      assert.equal(ready.workers, 2);
      const secrets = (await stack.waitForLog(/generated secrets/)) as Record<string, string>;
      assert.equal(typeof secrets.ADMIN_TOKEN, 'string', 'the generated admin token was not printed');

      assert.deepEqual((await requestJson(`http://127.0.0.1:${port}/readyz`)).body, { status: 'ready' });
      assert.equal((await requestJson(`http://127.0.0.1:${dashboardPort}/admin/queues`)).status, 401);
      const board = await requestJson(`http://127.0.0.1:${dashboardPort}/admin/queues/api/queues`, {
        headers: { authorization: `Basic ${Buffer.from(`admin:${secrets.DASHBOARD_PASSWORD}`).toString('base64')}` },
      });
      assert.equal(board.status, 200);
      const put = await requestJson(`http://127.0.0.1:${port}/products/tv`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}` },
        body: { stock: 1 },
      });
      assert.equal(put.status, 200);
    } finally {
      process.kill(-child.pid!, 'SIGTERM');
    }
    // 'close' comes when every process holding the output pipes (npm and all it started) has exited.
    await new Promise((resolve) => (child.stdout.closed ? resolve(undefined) : child.once('close', resolve)));
    // npm re-raises the signal it was stopped by; what counts is that the stack inside stopped cleanly.
    assert.match(stack.output(), /"msg":"stack stopped"/, stack.output());
    assert.doesNotMatch(stack.output(), /overran|restarting/);
    assert.equal(
      (await requestJson(`http://127.0.0.1:${port}/healthz`, { timeoutMs: 1000 })).status,
      0,
      'the API still answers',
    );
  });

  it('exits 0 after a graceful stop on SIGINT and on SIGTERM', async () => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const env = {
        REDIS_URL: ctx.server.url,
        PORT: String(await freePort()),
        DASHBOARD_PORT: String(await freePort()),
        WORKERS: '1',
        KEY_PREFIX: 'start2',
        // The first test's stack left its keys (KEY_PREFIX start) in this Redis: shared on purpose here.
        REDIS_ALLOW_FOREIGN_KEYS: 'true',
      };
      const stack = startApp('apps/stack/src/main.ts', env);
      await stack.waitForLog(/stack ready/, 60_000);
      assert.equal(await stack.stop(signal), 0, stack.output());
      for (const service of ['api', 'dashboard', 'worker'])
        assert.match(stack.output(), new RegExp(`"service":"${service}","msg":"stopped"`));
    }
  });

  it('refuses to start in production without its secrets', async () => {
    const app = startApp('apps/stack/src/main.ts', {
      NODE_ENV: 'production',
      REDIS_URL: ctx.server.url,
      ADMIN_TOKEN: '',
      DASHBOARD_PASSWORD: '',
    });
    const code = await new Promise<number | null>((resolve) => app.child.once('exit', resolve));
    assert.equal(code, 1);
    assert.match(app.output(), /ADMIN_TOKEN and DASHBOARD_PASSWORD/);
  });

  it('refuses a bad configuration, naming each bad setting', async () => {
    const app = startApp('apps/api/src/main.ts', { PORT: 'eighty', MAX_QUANTITY: '0', REDIS_URL: 'http://x' });
    const code = await new Promise<number | null>((resolve) => app.child.once('exit', resolve));
    assert.equal(code, 1);
    for (const name of ['PORT', 'MAX_QUANTITY', 'REDIS_URL']) assert.match(app.output(), new RegExp(name));
  });
});
