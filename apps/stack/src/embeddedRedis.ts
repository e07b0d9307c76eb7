import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { redactUrl, type Logger } from '@flashline/core';

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
  /** KEY_PREFIX and QUEUE_PREFIX: a Redis found running with keys under neither belongs to something else. */
  prefixes: string[];
  /** REDIS_ALLOW_FOREIGN_KEYS: share such a Redis anyway. */
  allowForeignKeys: boolean;
  /** REDIS_CONNECT_TIMEOUT_S in ms: how long a given REDIS_URL may take to answer (0 = for ever). */
  connectTimeoutMs: number;
}

/**
 * The Redis the stack runs on: REDIS_URL when given (waited for, up to REDIS_CONNECT_TIMEOUT_S); else whatever
 * answers at the default URL; else an embedded `redis-server` from PATH (embeddedServerArgs), with its data
 * under `dataDir`. A Redis it did not start is used only if it holds nothing but Flashline's keys (or is
 * empty), unless REDIS_ALLOW_FOREIGN_KEYS says to share it; the log says which Redis and who started it.
 */
export async function ensureRedis(options: EnsureRedisOptions): Promise<RedisForStack> {
  const shown = redactUrl(options.url);
  if (options.urlGiven) await waitForGivenRedis(options);
  if (options.urlGiven || (await answers(options.url))) {
    const foreign = options.allowForeignKeys ? undefined : await foreignKeys(options.url, options.prefixes);
    if (foreign) {
      throw new NoRedisError(
        `the Redis at ${shown} holds keys of something else (${foreign.dbsize} keys, e.g. ${foreign.examples
          .map((key) => JSON.stringify(key))
          .join(
            ', ',
          )}; Flashline's are under ${options.prefixes.map((p) => `"${p}:"`).join(' and ')}). Point REDIS_URL at a Redis of its own, ` +
          'or set REDIS_ALLOW_FOREIGN_KEYS=true to share this one',
      );
    }
    options.log('info', `using the Redis at ${shown}`, { startedByStack: false });
    return { url: options.url };
  }
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
  options.log('info', 'started embedded redis-server', {
    url: shown,
    dataDir: dir,
    pid: server.pid,
    startedByStack: true,
  });
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
  // Its own process group: a Ctrl-C in the terminal (SIGINT to the foreground group) stops the apps, which
  // still need Redis to stop cleanly; the stack stops the server itself, after them.
  const server = spawn(binary, args, { stdio: 'ignore', detached: true });
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

/** Waits for REDIS_URL to answer: one line every 5 s, and a NoRedisError after REDIS_CONNECT_TIMEOUT_S. */
async function waitForGivenRedis(options: EnsureRedisOptions): Promise<void> {
  const startedAt = Date.now();
  let reportedAt = startedAt;
  while (!(await answers(options.url))) {
    const waitedMs = Date.now() - startedAt;
    if (options.connectTimeoutMs !== 0 && waitedMs >= options.connectTimeoutMs) {
      throw new NoRedisError(
        `nothing answers at REDIS_URL=${redactUrl(options.url)} (waited ${Math.round(waitedMs / 1000)} s): start ` +
          'Redis there, point REDIS_URL at a running one, leave it unset to let npm start find or start one, ' +
          'or wait longer with REDIS_CONNECT_TIMEOUT_S (0 = for ever)',
      );
    }
    if (Date.now() - reportedAt >= 5000 || reportedAt === startedAt) {
      options.log('warn', `waiting for Redis at ${redactUrl(options.url)}`, { waitedS: Math.round(waitedMs / 1000) });
      reportedAt = Date.now();
    }
    await sleep(250);
  }
}

/**
 * Keys of something else in the Redis at `url`: a few sampled at random (RANDOMKEY) and the first SCAN page,
 * any not under one of `prefixes`. Undefined when it is empty or every key seen is Flashline's.
 */
async function foreignKeys(
  url: string,
  prefixes: string[],
): Promise<{ dbsize: number; examples: string[] } | undefined> {
  const redis = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  try {
    await redis.connect();
    const dbsize = await redis.dbsize();
    if (dbsize === 0) return undefined;
    const [, page] = await redis.scan('0', 'COUNT', 100);
    const sampled = await Promise.all(Array.from({ length: 16 }, () => redis.randomkey()));
    const seen = new Set([...page, ...sampled.filter((key): key is string => key !== null)]);
    const ours = (key: string) => prefixes.some((prefix) => key.startsWith(`${prefix}:`));
    const examples = [...seen].filter((key) => !ours(key)).slice(0, 3);
    return examples.length > 0 ? { dbsize, examples } : undefined;
  } finally {
    redis.disconnect();
  }
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
