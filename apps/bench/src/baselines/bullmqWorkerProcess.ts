// One BullMQ worker process of the ceiling (spawned by `bullmqCeilingProcesses`), like one Flashline
// worker process but with a processor that does nothing. stdin: `go` starts it, `stop` closes it;
// stdout: `ready` once connected, `done <completed>` once closed.
import { createInterface } from 'node:readline';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

const connection = new Redis(env('BENCH_REDIS_URL'), {
  maxRetriesPerRequest: null,
  connectionName: 'flashline-bench-worker',
});
connection.on('error', () => {});
const worker = new Worker(env('BENCH_QUEUE'), async () => {}, {
  connection,
  prefix: env('BENCH_PREFIX'),
  concurrency: Number(env('BENCH_CONCURRENCY')),
  autorun: false,
});
let completed = 0;
worker.on('completed', () => (completed += 1));

await worker.waitUntilReady();
process.stdout.write('ready\n');

for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'go') void worker.run().catch(() => {});
  if (line === 'stop') break;
}
await worker.close();
await connection.quit().catch(() => connection.disconnect());
process.stdout.write(`done ${completed}\n`);
