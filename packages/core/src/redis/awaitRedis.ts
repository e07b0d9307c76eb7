import type { Config } from '../config/config.ts';
import type { Logger } from '../log/logger.ts';
import { waitUntilReady, type RedisClient } from './connect.ts';
import { redactUrl } from './redactUrl.ts';

/** Redis did not answer within REDIS_CONNECT_TIMEOUT_S at start-up: its message says what to do. */
export class RedisUnreachableError extends Error {
  override name = 'RedisUnreachableError';
}

const REPORT_EVERY_MS = 5000;

/** Where a process looks for Redis, fit for a log line (no password). */
export function redisLocation(config: Pick<Config, 'redisUrl' | 'redisCluster'>): string {
  return config.redisCluster
    ? `the cluster of ${config.redisCluster.nodes.map(({ host, port }) => `${host}:${port}`).join(', ')}`
    : redactUrl(config.redisUrl);
}

/**
 * Resolves once `redis` is connected. Until then one line every 5 s ("waiting for Redis at …", with the
 * last connection error), never a dump per retry; after REDIS_CONNECT_TIMEOUT_S it rejects with
 * RedisUnreachableError (runMain then exits 1 with its message). A process calls it before it builds
 * anything on the connection, and before it says it listens or is ready.
 */
export async function awaitRedis(
  redis: RedisClient,
  config: Pick<Config, 'redisUrl' | 'redisCluster' | 'redisConnectTimeoutMs'>,
  log: Logger,
): Promise<void> {
  let lastError = '';
  const onError = (error: Error) => (lastError = error.message);
  redis.on('error', onError);
  const startedAt = Date.now();
  const timeoutMs = config.redisConnectTimeoutMs;
  try {
    for (;;) {
      const waitedMs = Date.now() - startedAt;
      const leftMs = timeoutMs === 0 ? REPORT_EVERY_MS : Math.min(REPORT_EVERY_MS, timeoutMs - waitedMs);
      const ready = await waitUntilReady(redis, Math.max(leftMs, 1)).then(
        () => true,
        () => false,
      );
      if (ready) return;
      const waitedS = Math.round((Date.now() - startedAt) / 1000);
      if (timeoutMs !== 0 && Date.now() - startedAt >= timeoutMs) {
        throw new RedisUnreachableError(
          `Redis at ${redisLocation(config)} did not answer within ${waitedS} s` +
            `${lastError ? ` (${lastError})` : ''}: start Redis there, point REDIS_URL (or REDIS_CLUSTER_NODES) ` +
            'at a running one, or wait longer with REDIS_CONNECT_TIMEOUT_S (0 = for ever)',
        );
      }
      log('warn', `waiting for Redis at ${redisLocation(config)}`, { waitedS, error: lastError || undefined });
    }
  } finally {
    redis.off('error', onError);
  }
}
