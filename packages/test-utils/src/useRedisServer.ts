import { after, before } from 'node:test';
import { startRedis, type TestRedis } from './redisServer.ts';

/**
 * A private redis-server for the enclosing `describe`, started in `before` and stopped in `after`.
 * Read `.server` inside tests. `beforeStop` closes what the tests opened on it (apps, clients)
 * while the server still answers.
 */
export function useRedisServer(options: { beforeStop?: () => Promise<void> | void } = {}): { server: TestRedis } {
  const context = {} as { server: TestRedis };
  before(async () => {
    context.server = await startRedis();
  });
  after(async () => {
    await options.beforeStop?.();
    await context.server.stop();
  });
  return context;
}
