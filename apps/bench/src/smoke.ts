// Every baseline once, at small sizes, against a private redis-server: `npm run smoke -w apps/bench`.
// Prints one JSON document; the figures are this machine's, measured now.
import { cpus, loadavg } from 'node:os';
import { startRedis } from '@flashline/test-utils';
import { bullmqCeiling, bullmqCeilingProcesses, httpCeiling, seedAlgorithms } from './baselines/index.ts';

const redis = await startRedis();
try {
  const common = { redisUrl: redis.url, keyPrefix: 'smoke' };
  const report = {
    // Other processes on the machine move every figure: the load average says how busy it was.
    machine: {
      cpus: cpus().length,
      loadavg1m: loadavg()[0],
      node: process.version,
      redis: (await redis.client.info('server')).match(/redis_version:(\S+)/)?.[1],
    },
    seedAlgorithms: await seedAlgorithms({ ...common, stock: 2000, demand: 4000, clients: 50 }),
    bullmqCeiling: await bullmqCeiling({ ...common, jobs: 4000, workers: 1, concurrency: 64 }),
    bullmqCeilingProcesses: await bullmqCeilingProcesses({ ...common, jobs: 4000, processes: 2, concurrency: 64 }),
    httpCeiling: await httpCeiling({ ...common, requests: 4000, concurrency: 64 }),
  };
  console.log(JSON.stringify(report, null, 2));
} finally {
  await redis.stop();
}
