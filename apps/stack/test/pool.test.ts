import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  SYSTEM_ADMIN_TOKEN,
  mapConcurrent,
  products,
  runScenario,
  startSystem,
  sumOf,
  untilActive,
  type AppProcess,
  type System,
} from '@flashline/test-utils';

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/**
 * One request on a connection of its own: the pool's primary hands each new connection to its processes
 * in turn, so requests sent this way reach every process (fetch would reuse one kept-alive connection).
 */
function freshRequest(url: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  return new Promise<Answer>((resolve, reject) => {
    const body = init.body === undefined ? undefined : JSON.stringify(init.body);
    const req = request(
      url,
      {
        method: init.method ?? 'GET',
        agent: false,
        headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...init.headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : {},
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The pids of the pool's processes, from their 'api process listening' lines (the latest `count`). */
function poolPids(api: AppProcess): number[] {
  return api
    .output()
    .split('\n')
    .filter((line) => line.includes('"api process listening"'))
    .map((line) => (JSON.parse(line) as { pid: number }).pid);
}

async function until(what: string, ok: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const admin = { authorization: `Bearer ${SYSTEM_ADMIN_TOKEN}` };

async function withPool(processes: number, env: Record<string, string>, body: (system: System) => Promise<void>) {
  const system = await startSystem({ workers: 1, env: { API_PROCESSES: String(processes), ...env } });
  try {
    await body(system);
  } finally {
    await system.stop();
  }
}

describe('the API pool (API_PROCESSES)', () => {
  it('3 processes serve one port, and /metrics is the sum over all of them', async () => {
    await withPool(3, {}, async ({ api, apiUrl }) => {
      // Each process logs its line itself: the primary's 'api listening' may be read before the last.
      await until('three processes listening', () => new Set(poolPids(api)).size === 3);
      for (let i = 0; i < 30; i++) assert.equal((await freshRequest(`${apiUrl}/healthz`)).status, 200);
      // Whichever process the scrape reaches, it counts the answers of all three (10 each, in turn).
      for (let scrape = 0; scrape < 3; scrape++) {
        const res = await fetch(`${apiUrl}/metrics`, { headers: { connection: 'close' } });
        const text = await res.text();
        assert.equal(sumOf(text, 'flashline_http_requests_total', { route: '/healthz', status: '200' }), 30);
      }
    });
  });

  it('2 processes: a keyed retry reaching another process makes one order; the per-user limit holds exactly', async () => {
    await withPool(2, { RATE_LIMIT_PER_USER: '3', RATE_LIMIT_WINDOW_MS: '60000' }, async ({ apiUrl }) => {
      for (const productId of ['pool-a', 'pool-b']) {
        const put = await freshRequest(`${apiUrl}/products/${productId}`, {
          method: 'PUT',
          headers: admin,
          body: { stock: 100 },
        });
        assert.equal(put.status, 200);
      }
      // The same order sent 8 times at once, on 8 connections (4 per process), with one key.
      const keyed = await mapConcurrent(Array.from({ length: 8 }), 8, () =>
        freshRequest(`${apiUrl}/orders`, {
          method: 'POST',
          headers: { 'idempotency-key': 'pool-key-1' },
          body: { userId: 'keyed-buyer', productId: 'pool-a', quantity: 1 },
        }),
      );
      assert.deepEqual(
        keyed.map((a) => a.status),
        keyed.map(() => 202),
      );
      assert.equal(new Set(keyed.map((a) => a.body.orderId)).size, 1, 'one order id for every retry');
      // 12 different orders of one buyer at once over both processes: exactly the limit is accepted.
      const burst = await mapConcurrent(Array.from({ length: 12 }), 12, (_, i) =>
        freshRequest(`${apiUrl}/orders`, {
          method: 'POST',
          body: { userId: 'limited-buyer', productId: i % 2 ? 'pool-a' : 'pool-b', quantity: 1 },
        }),
      );
      assert.equal(burst.filter((a) => a.status === 202).length, 3);
      assert.equal(burst.filter((a) => a.status === 429).length, 9);
    });
  });

  it('kill -9 of an API process during a burst: it is replaced, and nothing accepted is lost or doubled', async (t) => {
    const killed: number[] = [];
    const { report, violations, exitCodes } = await runScenario({
      products: products(4, 300),
      orders: 2000,
      seed: 11,
      system: { workers: 2, env: { API_PROCESSES: '2' } },
      fault: async (system) => {
        await untilActive(system);
        const [victim] = poolPids(system.api);
        assert.ok(victim);
        process.kill(victim, 'SIGKILL');
        killed.push(victim);
        await until('the replacement', () => system.api.output().includes('"api process replaced"'));
        await until('its listening line', () => poolPids(system.api).length === 3);
        assert.notEqual(poolPids(system.api)[2], victim, 'a new process listened: the replacement');
      },
    });
    t.diagnostic(`report ${JSON.stringify(report)}`);
    assert.equal(killed.length, 1);
    assert.deepEqual(violations, {});
    assert.ok(report.accepted > 0 && report.retried > 0, 'the kill reached requests in flight');
    assert.deepEqual(
      exitCodes,
      exitCodes.map(() => 0),
    );
  });

  // One process too: before the answers closed their connections while closing, a burst on kept-alive
  // connections held the close open until the shutdown deadline (exit 1), in a pool or not.
  for (const processes of [1, 2]) {
    it(`SIGTERM to a pool of ${processes} mid-burst: it stops gracefully (exit 0), every accepted order kept and decided`, async (t) => {
      let apiExit: number | null | undefined;
      let apiOutput = '';
      const { report, violations } = await runScenario({
        products: products(4, 300),
        orders: 2000,
        seed: 12,
        tries: 1,
        system: { workers: 2, env: { API_PROCESSES: String(processes) } },
        fault: async (system) => {
          await untilActive(system);
          await sleep(500);
          apiExit = await system.api.stop('SIGTERM');
          apiOutput = system.api.output();
        },
      });
      t.diagnostic(`report ${JSON.stringify(report)}`);
      assert.equal(apiExit, 0, `the pool exits 0: each process stopped cleanly\n${apiOutput}`);
      assert.deepEqual(violations, {});
      assert.ok(report.accepted > 0 && report.unknown > 0, 'the stop came mid-burst');
    });
  }
});
