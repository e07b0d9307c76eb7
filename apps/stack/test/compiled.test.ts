import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  freePort,
  repoRoot,
  requestJson,
  startRedis,
  wrap,
  type AppProcess,
  type TestRedis,
} from '@flashline/test-utils';

const ADMIN_TOKEN = 'compiled-admin-token-0123456789';

/**
 * The commands the image runs (docker-compose.yml's, the Dockerfile's CMD): `node --conditions=flashline-dist
 * apps/<app>/dist/src/main.js`, read from the files so that the test follows them.
 */
function imageCommands(): string[][] {
  const compose = readFileSync(join(repoRoot, 'docker-compose.yml'), 'utf8');
  const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
  const lists = [...compose.matchAll(/command: (\[.*\])/g), ...dockerfile.matchAll(/^CMD (\[.*\])$/gm)].map(
    (match) => JSON.parse(match[1]!) as string[],
  );
  return lists.filter((command) => command[0] === 'node');
}

/** Runs one of those commands from the repository, with nothing else on the command line: no tsx. */
function run(command: string[], env: Record<string, string>): AppProcess {
  const [, ...args] = command;
  const child = spawn(process.execPath, args, {
    cwd: repoRoot,
    env: { ...process.env, NODE_ENV: 'test', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return wrap(child);
}

describe('the compiled services (npm run build, as the image runs them)', () => {
  let redis: TestRedis;
  before(async () => {
    const built = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(built.status, 0, `npm run build failed:\n${built.stdout}\n${built.stderr}`);
    redis = await startRedis();
  });
  after(async () => redis?.stop());

  it('every node command of the image names a built file, and runs it with no transpiler', () => {
    const commands = imageCommands();
    assert.ok(commands.length >= 4, `the api, worker and dashboard commands and the CMD: ${JSON.stringify(commands)}`);
    for (const command of commands) {
      assert.ok(!command.includes('tsx') && !command.includes('--import'), `no loader: ${command.join(' ')}`);
      const entry = command.at(-1)!;
      assert.match(entry, /\.js$/);
      assert.ok(existsSync(join(repoRoot, entry)), `${entry} is built`);
    }
  });

  it('the built API pool and worker take an order and decide it (Node runs only JavaScript: a .ts file would fail to load)', async () => {
    const commands = imageCommands();
    const of = (app: string) => commands.find((c) => c.at(-1) === `apps/${app}/dist/src/main.js`)!;
    const port = await freePort();
    const env = { REDIS_URL: redis.url, PORT: String(port), ADMIN_TOKEN, API_PROCESSES: '2' };
    const api = run(of('api'), env);
    const worker = run(of('worker'), env);
    try {
      await Promise.all([api.waitForLog(/^api listening$/, 30_000), worker.waitForLog(/worker ready/, 30_000)]);
      const url = `http://127.0.0.1:${port}`;
      const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
      assert.equal(
        (await requestJson(`${url}/products/built`, { method: 'PUT', headers: admin, body: { stock: 3 } })).status,
        200,
      );
      const placed = await requestJson(`${url}/orders`, {
        method: 'POST',
        body: { productId: 'built', userId: 'compiled-buyer', quantity: 1 },
      });
      assert.equal(placed.status, 202);
      const orderId = (placed.body as { orderId: string }).orderId;
      let status = 'queued';
      for (let i = 0; i < 100 && status === 'queued'; i++) {
        await sleep(100);
        status = ((await requestJson(`${url}/orders/${orderId}`)).body as { status: string }).status;
      }
      assert.equal(status, 'confirmed');
    } finally {
      assert.deepEqual(await Promise.all([api.stop(), worker.stop()]), [0, 0]);
    }
  });
});
