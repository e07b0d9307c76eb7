import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { loadConfig } from '@flashline/core';
import { freePort } from '@flashline/test-utils';
import { NoRedisError, ensureRedis } from '../src/embeddedRedis.ts';

const quiet = () => {};
const { redisMaxmemoryBytes } = loadConfig({});

describe('the embedded Redis', () => {
  it('starts redis-server from PATH when nothing answers, durable, bounded and never evicting', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'flashline-embedded-'));
    const url = `redis://127.0.0.1:${await freePort()}`;
    const embedded = await ensureRedis({
      url,
      urlGiven: false,
      dataDir,
      maxmemoryBytes: redisMaxmemoryBytes,
      path: process.env.PATH,
      log: quiet,
    });
    const client = new Redis(url);
    try {
      assert.ok(embedded.stop, 'expected an embedded server');
      assert.deepEqual(await client.config('GET', 'appendonly'), ['appendonly', 'yes']);
      assert.deepEqual(await client.config('GET', 'appendfsync'), ['appendfsync', 'everysec']);
      assert.deepEqual(await client.config('GET', 'maxmemory-policy'), ['maxmemory-policy', 'noeviction']);
      // REDIS_MAXMEMORY's default, 1gb: unbounded, Redis would grow until the kernel killed it.
      assert.deepEqual(await client.config('GET', 'maxmemory'), ['maxmemory', String(1024 ** 3)]);
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
    const again = await ensureRedis({
      url,
      urlGiven: false,
      dataDir,
      maxmemoryBytes: loadConfig({ REDIS_MAXMEMORY: '64mb' }).redisMaxmemoryBytes,
      path: process.env.PATH,
      log: quiet,
    });
    const reader = new Redis(url);
    try {
      assert.equal(await reader.get('survives'), 'a restart');
      assert.deepEqual(await reader.config('GET', 'maxmemory'), ['maxmemory', String(64 * 1024 ** 2)]);
    } finally {
      reader.disconnect();
      await again.stop?.();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('uses a Redis that already answers, and never starts one for a given REDIS_URL', async () => {
    const dead = `redis://127.0.0.1:${await freePort()}`;
    assert.deepEqual(
      await ensureRedis({
        url: dead,
        urlGiven: true,
        dataDir: '/nonexistent',
        maxmemoryBytes: redisMaxmemoryBytes,
        path: process.env.PATH,
        log: quiet,
      }),
      { url: dead },
    );
  });

  it('says how to install Redis or set REDIS_URL when there is no redis-server on PATH', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    await assert.rejects(
      ensureRedis({
        url,
        urlGiven: false,
        dataDir: '/nonexistent',
        maxmemoryBytes: redisMaxmemoryBytes,
        path: '/nonexistent-bin',
        log: quiet,
      }),
      (e: unknown) =>
        e instanceof NoRedisError && /apt-get install redis-server/.test(e.message) && /REDIS_URL=/.test(e.message),
    );
  });
});
