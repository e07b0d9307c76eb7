import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { loadConfig } from '@flashline/core';
import { freePort, startRedis } from '@flashline/test-utils';
import { NoRedisError, answers, ensureRedis } from '../src/embeddedRedis.ts';

const quiet = () => {};
const { redisMaxmemoryBytes } = loadConfig({});
// The options every call shares: Flashline's keys under fl:, no foreign keys allowed, a short wait.
const flashline = { prefixes: ['fl', 'fl:{queue}'], allowForeignKeys: false, connectTimeoutMs: 1500 };

describe('the embedded Redis', () => {
  it('starts redis-server from PATH when nothing answers, durable, bounded and never evicting', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'flashline-embedded-'));
    const url = `redis://127.0.0.1:${await freePort()}`;
    let serverPid = 0;
    const embedded = await ensureRedis({
      url,
      urlGiven: false,
      dataDir,
      maxmemoryBytes: redisMaxmemoryBytes,
      path: process.env.PATH,
      log: (_level, msg, fields) => {
        if (msg === 'started embedded redis-server') serverPid = Number(fields?.pid);
      },
      ...flashline,
    });
    const client = new Redis(url);
    try {
      assert.ok(embedded.stop, 'expected an embedded server');
      // Its own process group: a Ctrl-C (SIGINT to the terminal's foreground group) reaches the apps, not Redis,
      // which the stack stops after them (npm run start:cluster's nodes are started the same way).
      const stat = readFileSync(`/proc/${serverPid}/stat`, 'utf8');
      const processGroup = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      assert.equal(processGroup, serverPid, "redis-server shares the stack's process group");
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
      ...flashline,
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

  it('waits for a given REDIS_URL, never starts one in its place, and after REDIS_CONNECT_TIMEOUT_S says what to do', async () => {
    const dead = `redis://127.0.0.1:${await freePort()}`;
    const lines: string[] = [];
    const startedAt = Date.now();
    await assert.rejects(
      ensureRedis({
        url: dead,
        urlGiven: true,
        dataDir: '/nonexistent',
        maxmemoryBytes: redisMaxmemoryBytes,
        path: process.env.PATH,
        log: (_level, msg) => lines.push(msg),
        ...flashline,
      }),
      (e: unknown) =>
        e instanceof NoRedisError && /REDIS_CONNECT_TIMEOUT_S/.test(e.message) && e.message.includes(dead),
    );
    assert.ok(Date.now() - startedAt >= 1500, 'it waited');
    assert.deepEqual(lines, [`waiting for Redis at ${dead}`], 'one line, not one per retry');
    assert.equal(await answers(dead), false, 'no server was started in its place');
  });

  it('refuses a running Redis that holds keys of something else, unless REDIS_ALLOW_FOREIGN_KEYS', async () => {
    const server = await startRedis();
    const options = {
      url: server.url,
      urlGiven: true,
      dataDir: '/nonexistent',
      maxmemoryBytes: redisMaxmemoryBytes,
      path: process.env.PATH,
      log: quiet,
      ...flashline,
    };
    try {
      assert.deepEqual(await ensureRedis(options), { url: server.url }, 'an empty Redis is used');
      await server.client.set('fl:{p:tv}:stock', '1');
      assert.deepEqual(await ensureRedis(options), { url: server.url }, "one with Flashline's keys only is used");
      await server.client.set('sessions:alice', 'x');
      await assert.rejects(
        ensureRedis(options),
        (e: unknown) =>
          e instanceof NoRedisError &&
          /sessions:alice/.test(e.message) &&
          /REDIS_ALLOW_FOREIGN_KEYS=true/.test(e.message),
      );
      assert.deepEqual(await ensureRedis({ ...options, allowForeignKeys: true }), { url: server.url });
    } finally {
      await server.stop();
    }
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
        ...flashline,
        ...flashline,
      }),
      (e: unknown) =>
        e instanceof NoRedisError && /apt-get install redis-server/.test(e.message) && /REDIS_URL=/.test(e.message),
    );
  });
});
