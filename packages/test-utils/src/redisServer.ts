import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { RedisClient } from '@flashline/core';
import { freePort } from './ports.ts';

export interface TestRedis {
  url: string;
  port: number;
  /** Its own data dir, removed by `stop`. */
  dir: string;
  /** A plain client for assertions and set-up; closed by `stop`. */
  client: RedisClient;
  /** SIGKILLs the server (a crash); `start` brings it back on the same port and data dir. */
  kill(): Promise<void>;
  start(): Promise<void>;
  /** SIGSTOP: the process holds its sockets but answers nothing, as a stuck machine would; `resume` (SIGCONT) ends it. */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

export interface TestRedisOptions {
  appendonly?: boolean;
  /** False: never rewrite the AOF on its own (a rewrite forks Redis and takes a core for a while). */
  aofRewrites?: boolean;
  /** Redis's `maxmemory` (`8mb`): past it, with noeviction, Redis refuses writes. None by default. */
  maxmemory?: string;
  /** A port picked by the caller (a cluster picks all its ports at once, so that no two are the same); free by default. */
  port?: number;
  /** Where its data dir is made; the system's temp dir by default. */
  parentDir?: string;
  /** More `redis-server` arguments, after the usual ones (`--cluster-enabled yes`, ...). */
  args?: string[];
}

/**
 * Starts a private `redis-server` from PATH on a free port, with its own data dir. Tests never
 * touch a Redis they did not start, so they may flush it freely.
 */
export async function startRedis(options: TestRedisOptions = {}): Promise<TestRedis> {
  const dir = mkdtempSync(join(options.parentDir ?? tmpdir(), 'flashline-redis-'));
  const port = options.port ?? (await freePort());
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    options.appendonly ? 'yes' : 'no',
    '--appendfsync',
    'everysec',
    '--auto-aof-rewrite-percentage',
    options.aofRewrites === false ? '0' : '100',
    '--maxmemory-policy',
    'noeviction',
    ...(options.maxmemory ? ['--maxmemory', options.maxmemory] : []),
    '--loglevel',
    'warning',
    ...(options.args ?? []),
  ];
  let server: ChildProcess | undefined;
  const url = `redis://127.0.0.1:${port}`;

  async function start(): Promise<void> {
    server = spawn('redis-server', args, { stdio: 'ignore' });
    server.on('error', () => {});
    await waitForPing(port);
  }
  async function kill(): Promise<void> {
    const child = server;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise((resolve) => {
      child.once('exit', resolve);
      child.kill('SIGKILL');
    });
  }

  await start();
  const client = new Redis(url, { maxRetriesPerRequest: null });
  client.on('error', () => {});
  return {
    url,
    port,
    dir,
    client,
    kill,
    start,
    pause() {
      server?.kill('SIGSTOP');
    },
    resume() {
      server?.kill('SIGCONT');
    },
    async stop() {
      client.disconnect();
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPing(port: number): Promise<void> {
  const probe = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
  probe.on('error', () => {});
  try {
    for (let i = 0; i < 200; i++) {
      try {
        if (probe.status !== 'ready') await probe.connect();
        if ((await probe.ping()) === 'PONG') return;
      } catch {
        probe.disconnect();
        await sleep(25);
      }
    }
    throw new Error(`redis-server on port ${port} did not start (is redis-server on PATH?)`);
  } finally {
    probe.disconnect();
  }
}
