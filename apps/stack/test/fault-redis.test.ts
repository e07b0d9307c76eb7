import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  products,
  requestJson,
  runScenario,
  type Outcome,
  type ScenarioOptions,
  type System,
} from '@flashline/test-utils';

const PLAN = { products: products(10, 300), orders: 3000, seed: 11 };
const SLOW = { WORKER_CONCURRENCY: '4' };

interface DownProbe {
  answers: { status: number; code?: string; ms: number }[];
}

/**
 * kill -9 redis-server mid-burst, keep it down for `downMs` while probing the API, restart it on the
 * same port and data. Probes sent while it is down must each be a fast 503. A 503 is an unknown
 * outcome (a command the API sent just as Redis died may still run when it is back), so the probes
 * join the checker's requests as unknown: an order of theirs, if any, must be decided.
 */
function killRedis(downMs: number, probe: DownProbe) {
  return async (system: System, _burst: Promise<Outcome[]>, extra: Outcome[]) => {
    await sleep(1500);
    await system.redis.kill();
    const downUntil = Date.now() + downMs;
    for (let i = 0; Date.now() < downUntil; i++) {
      const order = { productId: 'sku-0', userId: `down-${i}`, quantity: 1 };
      const started = Date.now();
      const reply = await requestJson(`${system.apiUrl}/orders`, { method: 'POST', body: order, timeoutMs: 5000 });
      probe.answers.push({ status: reply.status, code: reply.body?.error?.code, ms: Date.now() - started });
      extra.push({
        ...order,
        status: reply.status === 202 ? 202 : 0,
        tries: 1,
        ...(reply.status === 202 ? { orderId: reply.body.orderId } : {}),
      });
      await sleep(50);
    }
    await system.redis.start();
  };
}

describe('Redis crashes', () => {
  it('kill -9 of redis-server mid-burst (AOF everysec): nothing acknowledged lost; 503 while down; workers resume', async (t) => {
    const probe: DownProbe = { answers: [] };
    const { report, violations, exitCodes } = await runScenario({
      ...PLAN,
      system: { workers: 2, latencyMs: 1, env: SLOW },
      fault: killRedis(2000, probe),
    });
    t.diagnostic(`report ${JSON.stringify(report)}`);
    t.diagnostic(
      `while down: ${probe.answers.length} probes, slowest ${Math.max(...probe.answers.map((a) => a.ms))} ms`,
    );
    assert.deepEqual(violations, {});
    assert.ok(probe.answers.length > 5);
    for (const answer of probe.answers) {
      assert.equal(answer.status, 503, `a probe got ${answer.status} while Redis was down`);
      assert.equal(answer.code, 'unavailable');
      // At once once the API knows Redis is gone; a command caught as the connection died waits out
      // REDIS_TIMEOUT_MS (1 s in these tests) at worst.
      assert.ok(answer.ms < 1500, `a 503 took ${answer.ms} ms`);
    }
    assert.deepEqual(
      exitCodes,
      exitCodes.map(() => 0),
    );
  });

  it('the same crash during a sale with one-second holds: none lost, none outlives its deadline', async (t) => {
    const probe: DownProbe = { answers: [] };
    const { report, violations } = await runScenario({
      ...PLAN,
      products: PLAN.products.map((p) => ({ ...p, holdSeconds: 1 })),
      shop: { confirm: 0.4, cancel: 0.2, maxDelayMs: 1500, seed: 4 },
      system: { workers: 2, latencyMs: 1, env: SLOW },
      fault: killRedis(2000, probe),
    });
    t.diagnostic(`report ${JSON.stringify(report)}`);
    assert.deepEqual(violations, {});
    assert.ok((report.decided.expired ?? 0) > 0, 'holds expired');
  });

  it('negative control: the same crash with persistence off is flagged', async (t) => {
    const probe: DownProbe = { answers: [] };
    const { violations } = await runScenario({
      ...PLAN,
      system: { workers: 2, latencyMs: 1, env: SLOW, appendonly: false },
      fault: killRedis(2000, probe),
    });
    t.diagnostic(`violations ${JSON.stringify(violations)}`);
    assert.ok((violations.lost ?? 0) > 0, `the checker missed the lost orders: ${JSON.stringify(violations)}`);
  });
});

/** Replies lost on the wire after Redis ran the command: the commit, the enqueue, the idempotency claim. */
function dropReplies(system: System) {
  const proxy = system.proxy!;
  proxy.dropReplyAfter(':buyers', 25); // commitOrder (workers)
  proxy.dropReplyAfter(':orders:id', 15); // BullMQ's add (API)
  proxy.dropReplyAfter(':pending', 15); // acceptOrder, commitOrder, failOrder
  return async () => {
    await sleep(1500);
    proxy.cutAll(); // and a few connection resets
    await sleep(800);
    proxy.latencyMs = 40; // a latency spike
    await sleep(500);
    proxy.latencyMs = 2;
    proxy.cutAll();
  };
}

describe('network faults between the processes and Redis', () => {
  /** The burst with dropReplies beside it (and `plan` over PLAN): nothing may be lost or doubled. */
  async function withDroppedReplies(t: TestContext, plan: Partial<ScenarioOptions> = {}) {
    let dropped = 0;
    const { report, violations } = await runScenario({
      ...PLAN,
      ...plan,
      system: { workers: 2, latencyMs: 2, env: SLOW },
      fault: async (system) => {
        await dropReplies(system)();
        dropped = system.proxy!.repliesDropped;
      },
    });
    t.diagnostic(`report ${JSON.stringify(report)}; replies dropped: ${dropped}`);
    assert.deepEqual(violations, {});
    assert.ok(dropped >= 20, `only ${dropped} replies were dropped`);
  }

  it('dropped replies, cut connections and latency spikes: nothing lost or doubled', (t) => withDroppedReplies(t));

  it('the same faults during a sale with one-second holds: confirm, cancel and expiry each once', (t) =>
    withDroppedReplies(t, {
      products: PLAN.products.map((p) => ({ ...p, holdSeconds: 1 })),
      shop: { confirm: 0.4, cancel: 0.2, maxDelayMs: 1500, seed: 6 },
    }));

  it('negative control: dropped commit replies with the idempotency check off are flagged', async (t) => {
    const { violations } = await runScenario({
      ...PLAN,
      system: { workers: 2, latencyMs: 2, env: { ...SLOW, FLASHLINE_BREAK: 'idempotency' } },
      fault: async (system) => {
        system.proxy!.dropReplyAfter(':buyers', 25);
        await sleep(2000);
      },
    });
    t.diagnostic(`violations ${JSON.stringify(violations)}`);
    assert.ok((violations.duplicates ?? 0) > 0, `the checker missed the doubled orders: ${JSON.stringify(violations)}`);
  });
});
