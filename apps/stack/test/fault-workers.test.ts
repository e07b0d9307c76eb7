import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { products, runScenario, untilActive, untilBacklog, type System } from '@flashline/test-utils';

// Demand ≈ 1.5× supply: orders race for the last units while the faults hit. A few ms of network
// latency and small worker concurrency keep the workers saturated, so every kill lands on jobs in flight.
const PLAN = { products: products(10, 400), orders: 3000, seed: 7 };
const WORKERS = { workers: 3, latencyMs: 3 };
const SLOW = { WORKER_CONCURRENCY: '4' };
// One job per order (as before the accept path batched) for the kills in turn: they need the
// workers saturated so that each kill lands on jobs in flight, and batch jobs decide this burst
// with the workers mostly idle. The kill of every worker at once runs with batch jobs: it waits
// for a job to be running, and every worker dies.
const PER_ORDER = { ...SLOW, ACCEPT_BATCH: '1' };

/**
 * kill -9 one of three workers every `everyMs` while the burst runs, the first as soon as jobs wait;
 * each comes back after a moment.
 */
function killWorkersInTurn(everyMs: number) {
  return async (system: System, burst: Promise<unknown>) => {
    let done = false;
    void burst.finally(() => (done = true));
    await untilBacklog(system);
    for (let i = 0; ; i = (i + 1) % 3) {
      await system.stopWorker(i, 'SIGKILL');
      await sleep(300);
      await system.startWorker(i);
      if (done) break;
      await sleep(everyMs);
    }
  };
}

/** kill -9 every worker at once mid-burst, while a job runs; they come back only after the burst. */
async function killAllWorkers(system: System) {
  await untilActive(system);
  await Promise.all([0, 1, 2].map((i) => system.stopWorker(i, 'SIGKILL')));
}
const restartAll = async (system: System) => {
  await sleep(1000);
  await Promise.all([0, 1, 2].map((i) => system.startWorker(i)));
};

describe('worker crashes', () => {
  it('kill -9 of one of several workers every second: nothing lost, oversold or doubled', async (t) => {
    const { report, violations, exitCodes } = await runScenario({ ...PLAN, system: { ...WORKERS, env: PER_ORDER }, fault: killWorkersInTurn(1000) });
    t.diagnostic(`report ${JSON.stringify(report)}`);
    assert.deepEqual(violations, {});
    assert.ok(report.accepted > 0 && (report.decided.confirmed ?? 0) > 0);
    assert.deepEqual(exitCodes, exitCodes.map(() => 0));
  });

  it('negative control: the same kills with stall detection too slow to help are flagged', async (t) => {
    const { report, violations } = await runScenario({
      ...PLAN,
      system: { ...WORKERS, env: { ...PER_ORDER, JOB_LOCK_MS: '600000' } },
      fault: killWorkersInTurn(1000),
    });
    t.diagnostic(`report ${JSON.stringify(report)}`);
    assert.ok((violations.stuck ?? 0) > 0 && (violations.lost ?? 0) > 0, `the checker missed the stranded orders: ${JSON.stringify(violations)}`);
  });

  it('every worker killed at once mid-burst, restarted later: every order still decided', async (t) => {
    const { report, violations } = await runScenario({ ...PLAN, system: { ...WORKERS, env: SLOW }, fault: killAllWorkers, heal: restartAll });
    t.diagnostic(`report ${JSON.stringify(report)}`);
    assert.deepEqual(violations, {});
  });

  it('negative control: all killed, stall detection too slow, is flagged', async (t) => {
    const { violations } = await runScenario({
      ...PLAN,
      system: { ...WORKERS, env: { ...SLOW, JOB_LOCK_MS: '600000' } },
      fault: killAllWorkers,
      heal: restartAll,
    });
    t.diagnostic(`violations ${JSON.stringify(violations)}`);
    assert.ok((violations.stuck ?? 0) > 0, `the checker missed the stranded orders: ${JSON.stringify(violations)}`);
  });
});
