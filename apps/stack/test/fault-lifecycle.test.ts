import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import {
  ProductLocks,
  connectRedis,
  createKeys,
  createOrdersQueue,
  loadConfig,
  lockHolder,
  ordersOf,
  pidOf,
} from '@flashline/core';
import {
  ordersQueueKey,
  products,
  requestJson,
  runScenario,
  untilBacklog,
  type Outcome,
  type System,
} from '@flashline/test-utils';

const PLAN = { products: products(10, 300), orders: 3000, seed: 23 };
const SLOW = { WORKER_CONCURRENCY: '4' };
// The pause and rolling-restart pairs also run as Flashline ran before batching: one job per order,
// and every lock taken with a lease (acquire, commit, release). Their negative controls need work
// in flight at a random moment; batch jobs and one-round-trip commits decide this burst with the
// workers mostly idle, so a clock-timed pause or stop finds nothing to break. Each pair has a twin
// with the default settings, which must hold too.
const LEGACY = { ...SLOW, ACCEPT_BATCH: '1', COMMIT_CLAIMS_LOCK: 'false' };

/** SIGSTOP worker 0 for longer than its lock lease and its job lock, mid-burst, then SIGCONT. */
function pauseWorker(pauseMs: number) {
  return async (system: System) => {
    await untilBacklog(system);
    const worker = system.workers[0]!;
    worker.child.kill('SIGSTOP');
    await sleep(pauseMs);
    worker.child.kill('SIGCONT');
    await sleep(1500);
  };
}

/**
 * SIGSTOP worker `index` as it claims a product lock: the proxy sees its lock command pass (the
 * command names the fence key, and the lock token names the worker's pid) and stops the worker
 * before Redis even runs it. Redis then grants the lock, whose lease runs out while the worker
 * sleeps; more orders for that product make another worker take the lock meanwhile.
 */
/** True when `token` (a lock's value) is held by the process `pid`. */
const isHeldBy = (token: string | null, pid: number | undefined) => token !== null && pidOf(lockHolder(token)) === pid;

async function pauseWhileHoldingLock(system: System, index: number, pauseMs: number, extra: Outcome[]): Promise<void> {
  const worker = system.workers[index]!;
  const mine = `:${worker.child.pid}:`;
  const keys = createKeys(system.prefix);
  let productId: string;
  for (const deadline = Date.now() + 20_000; ;) {
    productId = await new Promise<string>((resolve, reject) => {
      // The burst may end before a lease worth pausing comes by: fail, not hang.
      const timer = setTimeout(
        () => reject(new Error(`worker ${index} took no lease on a product with queued orders in time`)),
        deadline - Date.now(),
      );
      system.proxy!.whenClientSends([':fence', mine], (chunk) => {
        worker.child.kill('SIGSTOP');
        clearTimeout(timer);
        // The acquire command's fence key followed by its token: a chunk may also carry another
        // command naming a fence (a commit of another product), which must not be taken for it.
        const acquire = new RegExp(`\\{g:\\d+\\}:p:([A-Za-z0-9_-]+):fence\\r\\n\\$\\d+\\r\\n[^\\r]*${mine}`);
        resolve(acquire.exec(chunk.toString('latin1'))?.[1] ?? '');
      });
    });
    await sleep(50); // Redis runs the command meanwhile
    // Granted? An attempt that found the lock taken leaves nothing stale behind: try the next one.
    // So does a lease for orders all decided already (a job's retry replaying its decisions): the
    // commit answers those before it looks at the fence, so only a product with queued orders counts.
    if (
      productId &&
      isHeldBy(await system.redis.client.get(keys.lock(productId)), worker.child.pid) &&
      (await system.redis.client.zcard(keys.pending(productId))) > 0
    )
      break;
    worker.child.kill('SIGCONT');
  }
  const started = Date.now();
  await sleep(1200); // past the 1 s lease
  // Another holder takes and frees the lock now, for certain: the paused worker's fence is stale.
  const redis = connectRedis({ redisUrl: system.redis.url, redisTimeoutMs: 1000 }, 'worker');
  const locks = new ProductLocks(redis, keys, { ttlMs: 1000, maxWaitMs: 2000, retryMs: 5 });
  const { token } = await locks.acquire(productId);
  await locks.release(productId, token);
  redis.disconnect();
  for (let i = 0; i < 10; i++) {
    const order = { productId, userId: `late-${i}`, quantity: 1 };
    const reply = await requestJson(`${system.apiUrl}/orders`, { method: 'POST', body: order });
    extra.push({
      ...order,
      status: reply.status === 202 || reply.status === 409 ? reply.status : 0,
      tries: 1,
      ...(reply.status === 202 ? { orderId: reply.body.orderId } : { code: reply.body?.error?.code }),
    });
  }
  await sleep(Math.max(0, pauseMs - (Date.now() - started)));
  worker.child.kill('SIGCONT');
}

/** BullMQ's count of jobs it found stalled (a worker stopped holding them). */
async function stalledEvents(system: System): Promise<number> {
  const events = await system.redis.client.xrange(ordersQueueKey(system.prefix, 'events'), '-', '+');
  return events.filter(([, fields]) => fields[1] === 'stalled').length;
}

/** The worker's log line for a commit refused by the fencing token. */
const stale = /fencing token \d+ for product .* is stale/;

describe('a worker paused past its lease (SIGSTOP)', () => {
  it('paused while holding a product lock, past its lease: its stale commit is refused by the fencing token; nothing doubles', async (t) => {
    let workerLog = '';
    // The pause outlasts the product lock lease (1 s) but not BullMQ's job lock (10 s): the paused
    // worker still owns its job when it resumes, while other workers took the product lock meanwhile.
    const { report, violations } = await runScenario({
      ...PLAN,
      orders: 1200,
      // Locks taken with a lease (COMMIT_CLAIMS_LOCK=false): a commit that claims the lock in its own
      // script never holds it across a pause, so only the leased path can leave a stale holder.
      system: { workers: 3, latencyMs: 3, env: { ...SLOW, JOB_LOCK_MS: '10000', COMMIT_CLAIMS_LOCK: 'false' } },
      fault: async (system, _burst, extra) => {
        await sleep(1000);
        await pauseWhileHoldingLock(system, 0, 3000, extra);
        // The refusal is logged when BullMQ fails the job: wait for the line, not for a fixed time.
        const worker = system.workers[0]!;
        for (const deadline = Date.now() + 10_000; !stale.test(worker.output()) && Date.now() < deadline;)
          await sleep(50);
        workerLog = worker.output();
      },
    });
    t.diagnostic(`report ${JSON.stringify(report)}`);
    assert.deepEqual(violations, {});
    const lines = workerLog.split('\n');
    const fenced = lines.filter((line) => stale.test(line));
    const aborted = lines.filter((line) => /lease on product .* lost/.test(line));
    t.diagnostic(
      `stale commits refused by the fencing token after SIGCONT: ${fenced.length} (work aborted by the lease watchdog: ${aborted.length})`,
    );
    const warnings = lines.filter((line) => /"level":"(warn|error)"/.test(line)).slice(-20);
    assert.ok(
      fenced.length > 0,
      `the paused worker's stale commit was not refused by the fence; its warnings:\n${warnings.join('\n')}`,
    );
  });

  for (const [settings, env] of [
    ['default settings', SLOW],
    ['one job per order, leased locks', LEGACY],
  ] as const) {
    it(`paused past its job lock too (its jobs run elsewhere meanwhile): nothing doubles (${settings})`, async (t) => {
      const { report, violations } = await runScenario({
        ...PLAN,
        system: { workers: 3, latencyMs: 3, env },
        fault: pauseWorker(5000),
      });
      t.diagnostic(`report ${JSON.stringify(report)}`);
      assert.deepEqual(violations, {});
    });
  }

  it('negative control: the same pause with fencing and idempotency off is flagged', async (t) => {
    const { violations } = await runScenario({
      ...PLAN,
      system: { workers: 3, latencyMs: 3, env: { ...LEGACY, FLASHLINE_BREAK: 'fencing,idempotency' } },
      fault: pauseWorker(5000),
    });
    t.diagnostic(`violations ${JSON.stringify(violations)}`);
    assert.ok((violations.duplicates ?? 0) > 0, `the checker missed the doubled orders: ${JSON.stringify(violations)}`);
  });
});

/**
 * Deletes waiting jobs mid-burst until `count` orders are lost with them: those orders stay queued
 * with no job, as after a lost enqueue. A job carries one order or a batch; `lost` gets order ids.
 */
function loseJobs(count: number, lost: string[]) {
  return async (system: System) => {
    const connection = new Redis(system.redis.url, { maxRetriesPerRequest: null });
    const queue = createOrdersQueue(loadConfig({ KEY_PREFIX: system.prefix }), connection);
    await untilBacklog(system);
    for (const deadline = Date.now() + 10_000; lost.length < count && Date.now() < deadline; await sleep(5)) {
      for (const job of await queue.getWaiting(0, 9)) {
        // A job a worker took meanwhile is locked and stays: only waiting ones are lost.
        const removed = await job.remove().then(
          () => true,
          () => false,
        );
        if (removed) lost.push(...ordersOf(job.data).map((order) => order.orderId));
        if (lost.length >= count) break;
      }
    }
    await queue.close();
    connection.disconnect();
  };
}

describe('the reconciler', () => {
  it('re-drives orders whose job was lost, so every accepted order is decided', async (t) => {
    const lost: string[] = [];
    const { report, violations } = await runScenario({
      ...PLAN,
      system: { workers: 2, latencyMs: 3, env: SLOW },
      fault: loseJobs(40, lost),
    });
    t.diagnostic(`report ${JSON.stringify(report)}; orders whose job was deleted: ${lost.length}`);
    assert.ok(lost.length >= 20, `only ${lost.length} orders were waiting to lose`);
    assert.deepEqual(violations, {});
  });

  it('negative control: the same lost jobs with the reconciler off are flagged', async (t) => {
    const lost: string[] = [];
    const { violations } = await runScenario({
      ...PLAN,
      system: { workers: 2, latencyMs: 3, env: { ...SLOW, RECONCILE_AFTER_MS: '3600000' } },
      fault: loseJobs(40, lost),
    });
    t.diagnostic(`violations ${JSON.stringify(violations)}; orders whose job was deleted: ${lost.length}`);
    assert.ok(lost.length > 0);
    assert.deepEqual(
      violations,
      { lost: lost.length, stuck: lost.length },
      'the checker should flag exactly the orders whose job was deleted',
    );
  });
});

/** SIGTERM each worker in turn under load (each must exit 0), restarting it after. */
function rollingRestart(exitCodes: (number | null)[]) {
  return async (system: System) => {
    for (let i = 0; i < 3; i++) {
      await sleep(700);
      exitCodes.push(await system.stopWorker(i, 'SIGTERM'));
      await system.startWorker(i);
    }
  };
}

describe('graceful shutdown under load', () => {
  for (const [settings, env] of [
    ['default settings', SLOW],
    ['one job per order, leased locks', LEGACY],
  ] as const) {
    it(`rolling SIGTERM of the workers loses, doubles and stalls nothing (${settings})`, async (t) => {
      const codes: (number | null)[] = [];
      let stalled = -1;
      const { report, violations } = await runScenario({
        ...PLAN,
        system: { workers: 3, latencyMs: 3, env },
        fault: rollingRestart(codes),
        heal: async (system) => {
          stalled = await stalledEvents(system);
        },
      });
      t.diagnostic(`report ${JSON.stringify(report)}; exit codes ${codes.join(',')}; stalled jobs ${stalled}`);
      assert.deepEqual(violations, {});
      assert.deepEqual(codes, [0, 0, 0]);
      assert.equal(stalled, 0, 'a graceful stop left jobs to stall');
    });
  }

  it('negative control: a stop that abandons its jobs (deadline too short, no stall recovery) is flagged', async (t) => {
    const codes: (number | null)[] = [];
    const { violations } = await runScenario({
      ...PLAN,
      system: { workers: 3, latencyMs: 30, env: { ...LEGACY, SHUTDOWN_TIMEOUT_MS: '100', JOB_LOCK_MS: '600000' } },
      fault: rollingRestart(codes),
    });
    t.diagnostic(`violations ${JSON.stringify(violations)}`);
    assert.ok((violations.stuck ?? 0) > 0, `the checker missed the abandoned orders: ${JSON.stringify(violations)}`);
  });
});
