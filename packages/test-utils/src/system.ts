import {
  ORDERS_QUEUE,
  bullmqKey,
  connectRedis,
  loadConfig,
  partitionQueue,
  queuePrefixOf,
  waitUntilReady,
  type Config,
  type RedisClient,
} from '@flashline/core';
import { startFaultProxy, type FaultProxy } from './faultProxy.ts';
import { freePort } from './ports.ts';
import { startApp, type AppProcess } from './processes.ts';
import type { RedisCluster } from './redisCluster.ts';
import { startRedis, type TestRedis } from './redisServer.ts';

export const SYSTEM_ADMIN_TOKEN = 'system-admin-token-0123456789';

/** A key of the system's orders queue, as BullMQ names it under the default queue prefix. */
export const ordersQueueKey = (keyPrefix: string, name: string): string =>
  bullmqKey(queuePrefixOf(keyPrefix), ORDERS_QUEUE, name);

/** A key of one partition of the orders queue (`wait`, `active`, ...), under the system's config. */
export const partitionKey = (config: Config, partition: number, name: string): string => {
  const { prefix, name: queue } = partitionQueue(config, partition);
  return bullmqKey(prefix, queue, name);
};

export interface SystemOptions {
  workers: number;
  /** Extra environment for every process (overrides the defaults below). */
  env?: Record<string, string>;
  /** Put a fault proxy between every process and Redis. */
  proxy?: boolean;
  /** Network latency each way through the proxy (implies `proxy`). */
  latencyMs?: number;
  /** Redis AOF (appendfsync everysec); on by default, as in production. */
  appendonly?: boolean;
  /** Connect every process as this ACL user (created with these rules) instead of the default user. */
  acl?: { user: string; password: string; rules: string[] };
}

/** What every system has, on one Redis or on a cluster: an API process and worker processes. */
export interface BaseSystem {
  /** A worker-style client (it waits through failovers) for set-up and checks. */
  client: RedisClient;
  /** The config every process runs with, as the processes parse it. */
  config: Config;
  apiUrl: string;
  prefix: string;
  api: AppProcess;
  workers: (AppProcess | undefined)[];
  startWorker(index: number): Promise<void>;
  stopWorker(index: number, signal?: NodeJS.Signals): Promise<number | null>;
  /** Stops every process (SIGTERM) and what the system started; returns each process's exit code. */
  stop(): Promise<(number | null)[]>;
}

/** A whole Flashline on a private redis-server. */
export interface System extends BaseSystem {
  redis: TestRedis;
  proxy?: FaultProxy;
}

/** A whole Flashline on a Redis Cluster the caller started (and stops): tests may share one. */
export interface ClusterSystem extends BaseSystem {
  cluster: RedisCluster;
}

// Fast failure detection, so faults heal within a test's time: short job locks and leases, a
// reconciler that looks at orders queued over 3 s. No rate limits: the burst comes from one IP.
const defaults = {
  ADMIN_TOKEN: SYSTEM_ADMIN_TOKEN,
  KEY_PREFIX: 'sys',
  RATE_LIMIT_PER_IP: '0',
  RATE_LIMIT_PER_USER: '0',
  JOB_LOCK_MS: '2000',
  JOB_BACKOFF_MS: '100',
  LOCK_TTL_MS: '1000',
  RECONCILE_AFTER_MS: '3000',
  RECONCILE_INTERVAL_MS: '500',
  SHUTDOWN_TIMEOUT_MS: '5000',
  WORKER_CONCURRENCY: '16',
  REDIS_TIMEOUT_MS: '1000',
};

export async function startSystem(options: SystemOptions): Promise<System> {
  const redis = await startRedis({ appendonly: options.appendonly ?? true });
  const proxy =
    options.proxy || options.latencyMs ? await startFaultProxy({ host: '127.0.0.1', port: redis.port }) : undefined;
  if (proxy) proxy.latencyMs = options.latencyMs ?? 0;
  let redisUrl = proxy?.url ?? redis.url;
  if (options.acl) {
    const { user, password, rules } = options.acl;
    await redis.client.call('ACL', 'SETUSER', user, 'reset', 'on', `>${password}`, ...rules);
    redisUrl = redisUrl.replace('redis://', `redis://${encodeURIComponent(user)}:${encodeURIComponent(password)}@`);
  }
  const base = await startProcesses(options, { REDIS_URL: redisUrl }, redis.client, async () => {
    await proxy?.close();
    await redis.stop();
  });
  return Object.assign(base, { redis, ...(proxy ? { proxy } : {}) });
}

/**
 * The same system on `cluster`, under its own KEY_PREFIX (`options.env`), so that tests sharing a
 * cluster never see each other's keys. The cluster outlives it.
 */
export async function startClusterSystem(cluster: RedisCluster, options: SystemOptions): Promise<ClusterSystem> {
  const env = { REDIS_CLUSTER_NODES: cluster.seedNodes };
  const client = connectRedis(loadConfig({ ...defaults, ...options.env, ...env }), 'worker');
  try {
    await waitUntilReady(client, 10_000);
  } catch (error) {
    client.disconnect();
    throw error;
  }
  const base = await startProcesses(options, env, client, () => Promise.resolve(client.disconnect()));
  return Object.assign(base, { cluster });
}

async function startProcesses(
  options: SystemOptions,
  redisEnv: Record<string, string>,
  client: RedisClient,
  stopRedis: () => Promise<void>,
): Promise<BaseSystem> {
  const port = await freePort();
  const env: Record<string, string> = { ...defaults, ...options.env, PORT: String(port), ...redisEnv };
  const api = startApp('apps/api/src/main.ts', env);
  const workers: (AppProcess | undefined)[] = [];
  const system: BaseSystem = {
    client,
    config: loadConfig(env),
    apiUrl: `http://127.0.0.1:${port}`,
    prefix: env.KEY_PREFIX!,
    api,
    workers,
    async startWorker(index) {
      const worker = startApp('apps/worker/src/main.ts', env);
      workers[index] = worker;
      await worker.waitForLog(/worker ready/, 30_000);
    },
    async stopWorker(index, signal = 'SIGTERM') {
      const worker = workers[index];
      workers[index] = undefined;
      return worker ? worker.stop(signal) : null;
    },
    async stop() {
      const all = [api, ...workers.filter((w): w is AppProcess => !!w)];
      for (const p of all) if (p.child.signalCode === 'SIGSTOP' || p.child.exitCode === null) p.child.kill('SIGCONT');
      const codes = await Promise.all(all.map((p) => p.stop('SIGTERM')));
      await stopRedis();
      return codes;
    },
  };
  try {
    await Promise.all([
      api.waitForLog(/api listening/, 30_000),
      ...Array.from({ length: options.workers }, (_, i) => system.startWorker(i)),
    ]);
  } catch (error) {
    await system.stop().catch(() => {});
    throw error;
  }
  return system;
}
