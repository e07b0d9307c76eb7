import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, requestJson, startApp, type AppProcess } from '@flashline/test-utils';

const ADMIN_TOKEN = 'tls-admin-token-0123456789';

describe('Redis over TLS (rediss://)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flashline-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  let redisPort = 0;
  let redis: ReturnType<typeof spawn>;
  const apps: AppProcess[] = [];

  before(async () => {
    // A self-signed certificate, trusted by the processes through REDIS_TLS_CA_FILE.
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    redisPort = await freePort();
    // TLS only: the plain port is off.
    redis = spawn(
      'redis-server',
      [
        '--port',
        '0',
        '--tls-port',
        String(redisPort),
        '--tls-cert-file',
        cert,
        '--tls-key-file',
        key,
        '--tls-ca-cert-file',
        cert,
        '--tls-auth-clients',
        'no',
        '--save',
        '',
        '--dir',
        dir,
      ],
      { stdio: 'ignore' },
    );
    await sleep(300);
  });
  after(async () => {
    await Promise.all(apps.map((a) => a.stop()));
    redis.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('accepts and decides orders through a TLS-only Redis', async () => {
    const port = await freePort();
    const env = {
      REDIS_URL: `rediss://127.0.0.1:${redisPort}`,
      REDIS_TLS_CA_FILE: cert,
      PORT: String(port),
      ADMIN_TOKEN,
      KEY_PREFIX: 'tls',
    };
    const api = startApp('apps/api/src/main.ts', env);
    const worker = startApp('apps/worker/src/main.ts', env);
    apps.push(api, worker);
    await Promise.all([api.waitForLog(/api listening/), worker.waitForLog(/worker ready/)]);
    const base = `http://127.0.0.1:${port}`;
    assert.equal((await requestJson(`${base}/readyz`)).status, 200);
    assert.equal(
      (
        await requestJson(`${base}/products/tv`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
          body: { stock: 1 },
        })
      ).status,
      200,
    );
    const accepted = await requestJson(`${base}/orders`, {
      method: 'POST',
      body: { productId: 'tv', userId: 'u1', quantity: 1 },
    });
    assert.equal(accepted.status, 202);
    let status = 'queued';
    for (let i = 0; i < 100 && status === 'queued'; i++) {
      status = (await requestJson(`${base}/orders/${accepted.body.orderId}`)).body.status;
      await sleep(50);
    }
    assert.equal(status, 'confirmed');
  });
});
