// The API process alone under wrk on one hot route, production defaults (limits on, a key on every POST), on a
// private Redis, no worker: prints requests/s and the API's CPU per request, and (without --no-prof) writes the
// API's node --cpu-prof profile under <tmpdir>/flashline-profile/<scenario>/. API_ROOT: another checkout's
// apps/api to run instead (the code before a change, side by side with it); API_ENV: JSON of more settings.
// node --import tsx apps/bench/src/profile/profileApi.ts <storm|accept|getOrder|getProduct> [requests] [--no-prof]
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectRedis, createKeys, loadConfig, setProduct } from '@flashline/core';
import { freePort, repoRoot, startRedis, wrap } from '@flashline/test-utils';
import { wrkLoad } from '../load/wrk.ts';
import { cpuSeconds } from '../flashline/cpu.ts';

const scenario = process.argv[2] ?? 'storm';
const total = Number(process.argv[3] ?? 30000);
const prof = !process.argv.includes('--no-prof');
const dir = join(tmpdir(), 'flashline-profile', scenario);
mkdirSync(dir, { recursive: true });
const redis = await startRedis({ appendonly: true, aofRewrites: false });
const port = await freePort();
const env = {
  REDIS_URL: redis.url,
  KEY_PREFIX: 'p',
  PORT: String(port),
  ADMIN_TOKEN: 'bench-admin-token-0123456789',
  WORKER_CONCURRENCY: '64',
  MAX_BATCH: '64',
  RATE_LIMIT_PER_USER: String(loadConfig({}).rateLimit.perUser),
  RATE_LIMIT_PER_IP: '1000000',
  ...(process.env.API_ENV ? (JSON.parse(process.env.API_ENV) as Record<string, string>) : {}),
};
const config = loadConfig(env);
const client = connectRedis(config, 'worker');
const keys = createKeys('p');
await setProduct(client, keys, 'gone', { stock: 0 });
await setProduct(client, keys, 'hot', { stock: 10_000_000 });
const api = wrap(
  spawn(
    process.execPath,
    [
      ...(prof ? ['--cpu-prof', '--cpu-prof-dir', dir] : []),
      '--import',
      'tsx',
      `${process.env.API_ROOT ?? '.'}/apps/api/src/main.ts`,
    ],
    { cwd: repoRoot, env: { ...process.env, NODE_ENV: 'test', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  ),
);
await api.waitForLog(/api listening/, 30_000);
const url = `http://127.0.0.1:${port}`;
const post = (productId: string, n: number, keyPrefix: string) =>
  wrkLoad({
    url: `${url}/orders`,
    concurrency: 64,
    total: n,
    body: (i) => ({ productId, userId: `${keyPrefix}${i}`, quantity: 1 }),
    idempotencyKeyPrefix: keyPrefix,
  });
await post('no-such-product', 2000, 'warm-');
const before = cpuSeconds(api.child.pid!);
let result: Awaited<ReturnType<typeof post>> | string;
if (scenario === 'storm') result = await post('gone', total, 'cart-');
else if (scenario === 'accept') result = await post('hot', total, 'cart-');
else {
  const order = (await (
    await fetch(`${url}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ productId: 'hot', userId: 'u1', quantity: 1 }),
    })
  ).json()) as { orderId: string };
  const path = scenario === 'getOrder' ? `/orders/${order.orderId}` : '/products/hot';
  result = await new Promise<string>((resolve) => {
    const child = spawn('wrk', ['-t1', '-c64', '-d8s', `${url}${path}`]);
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('exit', () => resolve(out));
  });
}
const cpu = cpuSeconds(api.child.pid!) - before;
await api.stop();
client.disconnect();
await redis.stop();
if (typeof result === 'string') {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(result)?.[1]);
  const n = Number(/(\d+) requests in/.exec(result)?.[1]);
  console.log(JSON.stringify({ scenario, rps, requests: n, apiCpuUsPerRequest: (cpu * 1e6) / n, out: result }));
} else {
  console.log(
    JSON.stringify({
      scenario,
      rps: result.requestsPerSecond,
      statuses: result.statusCounts,
      apiCpuUsPerRequest: (cpu * 1e6) / result.total,
    }),
  );
}
