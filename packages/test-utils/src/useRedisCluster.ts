import { after, before } from 'node:test';
import { startRedisCluster, type RedisCluster, type RedisClusterOptions } from './redisCluster.ts';

/**
 * A private Redis Cluster for the enclosing `describe`, started in `before` and stopped in `after`:
 * its tests share it, and each leaves it healthy for the next. Read `.cluster` inside tests.
 * `beforeStop` closes what the tests opened on it (clients, apps) while the nodes still answer.
 */
export function useRedisCluster(options: RedisClusterOptions & { beforeStop?: () => Promise<void> | void } = {}): {
  cluster: RedisCluster;
} {
  const context = {} as { cluster: RedisCluster };
  before(async () => {
    context.cluster = await startRedisCluster(options);
  });
  after(async () => {
    await options.beforeStop?.();
    await context.cluster?.stop();
  });
  return context;
}
