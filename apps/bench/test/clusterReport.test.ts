import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EndToEndResult } from '../src/flashline/endToEnd.ts';
import type { ClusterRuns, WorkerSide } from '../src/cluster/clusterRounds.ts';
import { clusterReport } from '../src/cluster/clusterReport.ts';

const node = (commands: number, cpuSeconds: number) => ({
  commands,
  cpuSeconds,
  connectedClients: 4,
  blockedClients: 1,
});
const invariant = { oversold: 0, conservationErrors: 0, lost: 0, duplicates: 0 };
// Only the fields the report reads; the rest of a run does not matter here.
const workerRun = (decidedPerSecond: number, perNode = [node(1000, 0.1)]) =>
  ({
    orders: 1000,
    elapsedMs: 1000,
    decidedPerSecond,
    firstDecisionMs: 5,
    ordersPerJob: 64,
    ordersPerCommit: 32,
    cpu: { worker1: 0.5, worker2: 0.5, redis: 0.1 },
    perNode,
    perReplica: [],
    connections: perNode,
    idle: { commandsPerSecond: 20, cpuShare: 0.01 },
    invariant,
  }) as unknown as WorkerSide;
const httpRun = (requestsPerSecond: number) =>
  ({
    requestsPerSecond,
    statusCounts: { '202': 1000 },
    apiCpuMicrosPerRequest: 200,
    perNode: [node(1000, 0.03)],
    generatorCpuMicrosPerRequest: 25,
    cpu: { generator: 0.1 },
    invariant,
  }) as unknown as EndToEndResult;

describe('the cluster report', () => {
  it('takes each target as the median of the rounds, each cluster round against the single one beside it', () => {
    const masters = (busiest: number) => [node(busiest, busiest / 10_000), node(1000, 0.1), node(1000, 0.1)];
    const runs: ClusterRuns = {
      hot: { single: [10, 20, 40].map((x) => workerRun(x)), cluster: [9, 10, 36].map((x) => workerRun(x)) },
      wide: {
        single: [10, 10, 10].map((x) => workerRun(x)),
        cluster: [2000, 1000, 4000].map((c) => workerRun(5, masters(c))),
      },
      http: { single: [100, 100, 100].map(httpRun), cluster: [90, 95, 80].map(httpRun) },
      partitions: new Map([
        [1, [10, 10, 10].map((x) => workerRun(x))],
        [4, [10, 10, 10].map((x) => workerRun(x))],
      ]),
      widePartitioned: [8, 8, 8].map((x) => workerRun(x)),
      masters: 3,
      replicas: 3,
      checks: [],
    };
    const { ratios, rows, lines } = clusterReport(runs, 2, '`npm run bench`');
    const measured = Object.fromEntries(ratios.map((r) => [r.target, r.measured]));
    // 0.9, 0.5, 0.9 round by round: the median is 0.9 (a ratio of the medians would be 10/20 = 0.5).
    assert.equal(measured['hot product, worker side: decisions/s on the cluster ÷ single Redis'], 0.9);
    assert.equal(measured['wide sale, worker side: decisions/s on the cluster ÷ single Redis'], 0.5);
    assert.equal(measured['hot product through HTTP: requests/s on the cluster ÷ single Redis'], 0.9);
    // Busiest ÷ mean: 2000 of 4000 → 1.5; 1000 of 3000 → 1; 4000 of 6000 → 2: median 1.5.
    assert.equal(measured["wide sale on the cluster: the busiest master's commands ÷ the masters' mean"], 1.5);
    assert.equal(rows.length, 6);
    assert.ok(
      lines.some((line) => line.startsWith('| 16 |')),
      'the 16-partition row is the default cluster rounds',
    );
  });
});
