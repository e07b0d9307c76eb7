import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { Logger } from '@flashline/core';

export interface RedisForStack {
  url: string;
  /** Set when this process started the server: stops it (AOF is flushed on SIGTERM). */
  stop?: () => Promise<void>;
}

export class NoRedisError extends Error {
  override name = 'NoRedisError';
}

export interface EnsureRedisOptions {
  url: string;
  /** REDIS_URL was set: use it as is, never start a server in its place. */
  urlGiven: boolean;
  dataDir: string;
  /** REDIS_MAXMEMORY, in bytes: what the embedded server may hold before it refuses writes. */
  maxmemoryBytes: number;
  /** The PATH to look for `redis-server` on. */
  path: string | undefined;
  log: Logger;
}

/**
 * The Redis the stack runs on: REDIS_URL when given; else whatever answers at the default URL;
 * else an embedded `redis-server` from PATH (embeddedServerArgs), with its data under `dataDir`.
 */
export async function ensureRedis(options: EnsureRedisOptions): Promise<RedisForStack> {
  if (options.urlGiven || (await answers(options.url))) return { url: options.url };
  const binary = findOnPath('redis-server', options.path);
  if (!binary) {
    throw new NoRedisError(
      `nothing answers at ${options.url} and there is no redis-server on PATH.\n  ${INSTALL_REDIS},\n` +
        '  or point Flashline at a running one: REDIS_URL=redis://host:6379 npm start',
    );
  }
  const { hostname, port } = new URL(options.url);
  const dir = resolve(options.dataDir);
  mkdirSync(dir, { recursive: true });
  const args = embeddedServerArgs({
    host: hostname,
    port: port || '6379',
    dir,
    maxmemoryBytes: options.maxmemoryBytes,
  });
  const server = await spawnEmbeddedServer(binary, args, options.url, dir);
  options.log('info', 'started embedded redis-server', { url: options.url, dataDir: dir, pid: server.pid });
  return { url: options.url, stop: server.stop };
}

export const INSTALL_REDIS =
  'Install Redis 7 (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis)';

/**
 * What every redis-server the stack embeds runs with: durable (AOF, fsync every second), bounded
 * (`maxmemory`: without it Redis grows until the kernel kills it) and never evicting (an evicted stock
 * key would be an oversell: a full Redis refuses writes instead), its data and log under `dir`.
 */
export function embeddedServerArgs(options: {
  host: string;
  port: string;
  dir: string;
  maxmemoryBytes: number;
}): string[] {
  return [
    '--bind',
    options.host,
    '--port',
    options.port,
    '--dir',
    options.dir,
    '--appendonly',
    'yes',
    '--appendfsync',
    'everysec',
    '--maxmemory',
    String(options.maxmemoryBytes),
    '--maxmemory-policy',
    'noeviction',
    '--save',
    '',
    '--daemonize',
    'no',
    '--logfile',
    join(options.dir, 'redis.log'),
  ];
}

export interface EmbeddedServer {
  pid: number | undefined;
  /** SIGTERM (Redis flushes the AOF) and the exit. */
  stop: () => Promise<void>;
}

/** Spawns redis-server and resolves once it answers at `url`; killed, and a NoRedisError, if it never does. */
export async function spawnEmbeddedServer(
  binary: string,
  args: string[],
  url: string,
  dir: string,
): Promise<EmbeddedServer> {
  const server = spawn(binary, args, { stdio: 'ignore' });
  const exited = new Promise<void>((done) => server.once('exit', () => done()));
  for (let i = 0; i < 100 && server.exitCode === null; i++) {
    if (await answers(url)) return { pid: server.pid, stop: () => stopServer(server, exited) };
    await sleep(50);
  }
  server.kill('SIGKILL');
  throw new NoRedisError(`redis-server did not start on ${url}; see ${join(dir, 'redis.log')}`);
}

async function stopServer(server: ChildProcess, exited: Promise<void>): Promise<void> {
  if (server.exitCode !== null) return;
  server.kill('SIGTERM');
  await exited;
}

export async function answers(url: string): Promise<boolean> {
  const probe = new Redis(url, {
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    connectTimeout: 500,
  });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

export function findOnPath(name: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? '').split(delimiter).filter(Boolean)) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
