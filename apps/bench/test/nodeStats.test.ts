import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { balanceOf, median, nodeDeltas, parseNodeInfo } from '../src/cluster/nodeStats.ts';

const info = (cpuUser: number, cpuSys: number, commands: number, clients: number, blocked: number) =>
  [
    '# Clients',
    `connected_clients:${clients}`,
    `blocked_clients:${blocked}`,
    '# Stats',
    `total_commands_processed:${commands}`,
    '# CPU',
    `used_cpu_sys:${cpuSys}`,
    `used_cpu_user:${cpuUser}`,
    'used_cpu_sys_children:9.000000',
    'used_cpu_sys_main_thread:7.000000',
  ].join('\r\n');

describe('node stats', () => {
  it('reads CPU (user + sys, not children), commands and clients from INFO', () => {
    assert.deepEqual(parseNodeInfo(info(1.5, 0.25, 1200, 7, 2)), {
      cpuSeconds: 1.75,
      commands: 1200,
      connectedClients: 7,
      blockedClients: 2,
    });
  });

  it("takes each node's difference between two readings", () => {
    const before = [info(1, 1, 100, 5, 0), info(2, 0, 50, 3, 1)].map(parseNodeInfo);
    const after = [info(2, 1.5, 400, 9, 4), info(2.5, 0, 60, 3, 1)].map(parseNodeInfo);
    assert.deepEqual(nodeDeltas(before, after), [
      { cpuSeconds: 1.5, commands: 300, connectedClients: 4, blockedClients: 4 },
      { cpuSeconds: 0.5, commands: 10, connectedClients: 0, blockedClients: 0 },
    ]);
    assert.throws(() => nodeDeltas(before, after.slice(1)));
  });

  it('balance: shares of the total and the busiest over the mean', () => {
    assert.deepEqual(balanceOf([10, 10, 10]), { shares: [1 / 3, 1 / 3, 1 / 3], maxOverMean: 1 });
    const skewed = balanceOf([60, 30, 30]);
    assert.deepEqual(skewed.shares, [0.5, 0.25, 0.25]);
    assert.equal(skewed.maxOverMean, 1.5);
    assert.equal(balanceOf([0, 0, 9]).maxOverMean, 3, 'all on one of three');
    assert.ok(Number.isNaN(balanceOf([0, 0]).maxOverMean), 'nothing measured is not balanced');
  });

  it('median: the middle, the lower middle of an even count', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2);
    assert.ok(Number.isNaN(median([])));
  });
});
