/**
 * `node --import tsx apps/bench/src/webhooks/idleCost.ts`: what webhooks cost an idle system. For 1 and
 * 3 worker processes on 1 and 4 partitions, with and without WEBHOOK_URL, the commands a private
 * redis-server processes per second over 30 s (after 3 s to settle), and the relay's XREADs among them.
 * Not part of `npm run bench`; its figures are in the webhooks branch's report.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startApp, startRedis } from '@flashline/test-utils';

const WINDOW_S = 30;

async function measure(workers: number, webhooks: boolean, partitions: number) {
  const redis = await startRedis({ appendonly: false });
  const env: Record<string, string> = {
    REDIS_URL: redis.url,
    KEY_PREFIX: 'idle',
    QUEUE_PARTITIONS: String(partitions),
  };
  if (webhooks)
    Object.assign(env, { WEBHOOK_URL: 'http://127.0.0.1:9/hooks', WEBHOOK_SECRET: 'whsec-idle-0123456789' });
  const apps = Array.from({ length: workers }, () => startApp('apps/worker/src/main.ts', env));
  await Promise.all(apps.map((app) => app.waitForLog(/worker ready/, 30_000)));
  await sleep(3000);
  const stats = async () => {
    const info = await redis.client.info('all');
    const read = (pattern: RegExp) => Number(pattern.exec(info)?.[1] ?? 0);
    return { total: read(/total_commands_processed:(\d+)/), xread: read(/cmdstat_xread:calls=(\d+)/) };
  };
  const before = await stats();
  await sleep(WINDOW_S * 1000);
  const after = await stats();
  await Promise.all(apps.map((app) => app.stop()));
  await redis.stop();
  // The INFO call itself counts once.
  const perSecond = (after.total - before.total - 1) / WINDOW_S;
  const xreadPerSecond = (after.xread - before.xread) / WINDOW_S;
  console.log(
    JSON.stringify({ workers, partitions, webhooks, commandsPerSecond: perSecond.toFixed(1), xreadPerSecond }),
  );
}

for (const partitions of [1, 4])
  for (const workers of [1, 3]) for (const webhooks of [false, true]) await measure(workers, webhooks, partitions);
