import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { products, runScenario, untilActive, workerWithActiveJob, type System } from '@flashline/test-utils';

// Demand ≈ 1.5× supply: orders race for the last units while the faults hit. A few ms of network
// latency and small worker concurrency keep the workers saturated, so every kill lands on jobs in flight.
const PLAN = { products: products(10, 400), orders: 3000, seed: 7 };
const WORKERS = { workers: 3, latencyMs: 3 };
const SLOW = { WORKER_CONCURRENCY: '4' };
// The same sale with a one-second hold: holds expire while the kills go on, and the shop confirms and
// cancels some of them meanwhile (some after their deadline).
const HELD = {
  ...PLAN,
  products: PLAN.products.map((p) => ({ ...p, holdSeconds: 1 })),
  shop: { confirm: 0.4, cancel: 0.2, maxDelayMs: 1500, seed: 3 },
};

/**
 * kill -9, every `everyMs` while the burst runs, a worker that runs a job at that moment (batch jobs
 * leave the workers idle much of the time: a worker picked in turn would often hold nothing); each
 * comes back after a moment.
 */
function killWorkersInTurn(everyMs: number) {
  return async (system: System, burst: Promise<unknown>) => {
    let done = false;
    void burst.finally(() => (done = true));
    for (let kills = 0; ; kills++) {
      // The first kill waits for a running job whatever happens; later ones stop with the burst.
      const index = await workerWithActiveJob(system, () => done && kills > 0);
      if (index === undefined) break;
      await system.stopWorker(index, 'SIGKILL');
      await sleep(300);
      await system.startWorker(index);
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
    const { report, violations, exitCodes } = await runScenario({
      ...PLAN,
      system: { ...WORKERS, env: SLOW },
      fault: killWorkersInTurn(1000),
    });
    t.diagnostic(`report ${JSON.stringify(report)}`);
    assert.deepEqual(violations, {});
    assert.ok(report.accepted > 0 && (report.decided.confirmed ?? 0) > 0);
    assert.deepEqual(
      exitCodes,
      exitCodes.map(() => 0),
    );
  });

  it('the same kills during a sale with holds: every unit free, held or sold once, no hold outlives its deadline', async (t) => {
    const { report, violations } = await runScenario({
      ...HELD,
      system: { ...WORKERS, env: SLOW },
      fault: killWorkersInTurn(1000),
    });
    t.diagnostic(`report ${JSON.stringify(report)}`);
    assert.deepEqual(violations, {});
    assert.ok((report.decided.expired ?? 0) > 0 && (report.decided.confirmed ?? 0) > 0, 'holds expired and paid');
  });

  it('negative control: the same with the holds compare-and-set off (FLASHLINE_BREAK=holds) is flagged', async (t) => {
    const { report, violations } = await runScenario({
      ...HELD,
      system: { ...WORKERS, env: { ...SLOW, FLASHLINE_BREAK: 'holds' } },
      fault: killWorkersInTurn(1000),
    });
    t.diagnostic(`report ${JSON.stringify(report)}`);
    assert.ok(
      (violations.conservation_errors ?? 0) > 0,
      `the checker missed the units given twice: ${JSON.stringify(violations)}`,
    );
  });

  it('negative control: the same kills with stall detection too slow to help are flagged', async (t) => {
    const { report, violations } = await runScenario({
      ...PLAN,
      system: { ...WORKERS, env: { ...SLOW, JOB_LOCK_MS: '600000' } },
      fault: killWorkersInTurn(1000),
    });
    t.diagnostic(`report ${JSON.stringify(report)}`);
    assert.ok(
      (violations.stuck ?? 0) > 0 && (violations.lost ?? 0) > 0,
      `the checker missed the stranded orders: ${JSON.stringify(violations)}`,
    );
  });

  it('every worker killed at once mid-burst, restarted later: every order still decided', async (t) => {
    const { report, violations } = await runScenario({
      ...PLAN,
      system: { ...WORKERS, env: SLOW },
      fault: killAllWorkers,
      heal: restartAll,
    });
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
