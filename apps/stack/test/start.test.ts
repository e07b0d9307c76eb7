import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { freePort, repoRoot, requestJson, startApp, useRedisServer, wrap } from '@flashline/test-utils';
import { NoRedisError, ensureRedis } from '../src/embeddedRedis.ts';
import { mkdtempSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const quiet = () => {};

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

describe('the embedded Redis', () => {
  it('starts redis-server from PATH when nothing answers, durable and never evicting', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'flashline-embedded-'));
    const url = `redis://127.0.0.1:${await freePort()}`;
    const embedded = await ensureRedis({ url, urlGiven: false, dataDir, path: process.env.PATH, log: quiet });
    const client = new Redis(url);
    try {
      assert.ok(embedded.stop, 'expected an embedded server');
      assert.deepEqual(await client.config('GET', 'appendonly'), ['appendonly', 'yes']);
      assert.deepEqual(await client.config('GET', 'appendfsync'), ['appendfsync', 'everysec']);
      assert.deepEqual(await client.config('GET', 'maxmemory-policy'), ['maxmemory-policy', 'noeviction']);
      await client.set('survives', 'a restart');
    } finally {
      client.disconnect();
      await embedded.stop?.();
    }
    assert.ok(
      existsSync(dataDir) && readdirSync(dataDir).some((f) => f.startsWith('appendonly')),
      'no AOF under the data dir',
    );
    // Started again on the same data: what was written is still there.
    const again = await ensureRedis({ url, urlGiven: false, dataDir, path: process.env.PATH, log: quiet });
    const reader = new Redis(url);
    try {
      assert.equal(await reader.get('survives'), 'a restart');
    } finally {
      reader.disconnect();
      await again.stop?.();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('uses a Redis that already answers, and never starts one for a given REDIS_URL', async () => {
    const dead = `redis://127.0.0.1:${await freePort()}`;
    assert.deepEqual(
      await ensureRedis({ url: dead, urlGiven: true, dataDir: '/nonexistent', path: process.env.PATH, log: quiet }),
      { url: dead },
    );
  });

  it('says how to install Redis or set REDIS_URL when there is no redis-server on PATH', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    await assert.rejects(
      ensureRedis({ url, urlGiven: false, dataDir: '/nonexistent', path: '/nonexistent-bin', log: quiet }),
      (e: unknown) =>
        e instanceof NoRedisError && /apt-get install redis-server/.test(e.message) && /REDIS_URL=/.test(e.message),
    );
  });
});
