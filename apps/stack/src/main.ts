import { fileURLToPath } from 'node:url';
import { ConfigError, createLogger, errorFields, loadConfigOrExit, redactUrl, withSecrets } from '@flashline/core';
import { NoRedisError, ensureRedis } from './embeddedRedis.ts';
import { stackOutput } from './output.ts';
import type { LocalCluster, LocalClusterOptions } from './localCluster.ts';
import { Supervisor } from './supervisor.ts';

/**
 * `npm start`: the whole system as one supervised group — a Redis (found or embedded), the API (a pool
 * of API_PROCESSES processes), the dashboard and WORKERS worker processes — stopped together on SIGINT/SIGTERM. With `--cluster`
 * (`npm run start:cluster`), the same on a local Redis Cluster (localCluster.ts) instead of one Redis.
 */
const output = stackOutput(process.stdout.isTTY);
const settings = loadConfigOrExit('stack', process.env, output);
// The children inherit LOG_LEVEL with the rest of the environment: they write only what this writes.
const log = createLogger('stack', settings.logLevel, output);
const repo = (path: string) => fileURLToPath(new URL(`../../../${path}`, import.meta.url));

try {
  const config = withSecrets(settings, log, ['adminToken', 'dashboardPassword', 'dashboardViewerPassword']);
  const redis = process.argv.includes('--cluster')
    ? await startLocalCluster({
        dataDir: repo('.data/cluster'),
        maxmemoryBytes: config.redisMaxmemoryBytes,
        path: process.env.PATH,
        log,
      })
    : await ensureRedis({
        url: config.redisUrl,
        urlGiven: !!process.env.REDIS_URL,
        dataDir: repo('.data/redis'),
        maxmemoryBytes: config.redisMaxmemoryBytes,
        path: process.env.PATH,
        log,
        prefixes: [config.keyPrefix, config.queuePrefix],
        allowForeignKeys: config.redisAllowForeignKeys,
        connectTimeoutMs: config.redisConnectTimeoutMs,
      });

  const env = {
    ...process.env,
    // On a cluster the apps find it from its seed nodes; a REDIS_URL from the shell would point them at another Redis.
    ...('seedNodes' in redis
      ? { REDIS_URL: undefined, REDIS_CLUSTER_NODES: redis.seedNodes }
      : { REDIS_URL: redis.url }),
    ADMIN_TOKEN: config.adminToken,
    DASHBOARD_PASSWORD: config.dashboardPassword,
    DASHBOARD_VIEWER_PASSWORD: config.dashboardViewerPassword,
  };
  const urls: Record<string, string> = {};
  let workersReady = 0;
  let announced = false;
  const onLine = (name: string, line: string) => {
    if (announced || !line.startsWith('{')) return;
    const entry = JSON.parse(line) as { msg?: string; url?: string };
    if (entry.msg === 'api listening' || entry.msg === 'dashboard listening') urls[name] = entry.url ?? '';
    if (entry.msg === 'worker ready') workersReady += 1;
    if (urls.api && urls.dashboard && workersReady >= config.workers) {
      announced = true;
      log('info', 'stack ready', {
        api: urls.api,
        dashboard: urls.dashboard,
        dashboardUser: config.dashboardUser,
        dashboardViewerUser: config.dashboardViewerUser,
        apiProcesses: config.apiProcesses,
        workers: config.workers,
        redis: 'seedNodes' in redis ? redis.seedNodes : redactUrl(redis.url),
      });
    }
  };
  const supervisor = new Supervisor({ env, log, output, onLine });
  supervisor.start({ name: 'api', entry: repo('apps/api/src/main.ts') });
  supervisor.start({ name: 'dashboard', entry: repo('apps/dashboard/src/main.ts') });
  for (let i = 0; i < config.workers; i++) supervisor.start({ name: 'worker', entry: repo('apps/worker/src/main.ts') });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log('info', 'stopping the stack', { signal });
    await supervisor.stop(config.shutdownTimeoutMs + 2000);
    await redis.stop?.();
    log('info', 'stack stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
} catch (error) {
  if (error instanceof ConfigError || error instanceof NoRedisError) log('error', error.message);
  else log('error', 'the stack failed to start', errorFields(error));
  process.exit(1);
}

/** Loaded on demand: the local cluster is built on the test harness's cluster tools, which `npm start` does without. */
async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  const { startLocalCluster } = await import('./localCluster.ts');
  return startLocalCluster(options);
}
