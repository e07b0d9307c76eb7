import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Cluster } from 'ioredis';
import { askNode, freePorts } from '@flashline/test-utils';
import { NoRedisError } from '../src/embeddedRedis.ts';
import { startLocalCluster, type LocalCluster, type LocalClusterOptions } from '../src/localCluster.ts';

const quiet = () => {};

async function clusterPorts() {
  const ports = await freePorts(12);
  return Array.from({ length: 6 }, (_, i) => ({ port: ports[2 * i]!, busPort: ports[2 * i + 1]! }));
}

function connect(cluster: LocalCluster): Cluster {
  const client = new Cluster(cluster.nodes.map(({ port }) => ({ host: '127.0.0.1', port })));
  client.on('error', () => {});
  return client;
}

const keys = Array.from({ length: 100 }, (_, i) => `local:${i}`);

describe('the local cluster of npm run start:cluster', () => {
  it('comes up under its data dir, and comes back from there with its nodes and data', async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'flashline-local-cluster-'));
    const options: LocalClusterOptions = {
      dataDir,
      nodes: await clusterPorts(),
      nodeTimeoutMs: 2000,
      maxmemoryBytes: 64 * 1024 ** 2,
      path: process.env.PATH,
      log: quiet,
    };
    try {
      let startedAt = Date.now();
      const first = await startLocalCluster(options);
      t.diagnostic(`created in ${Date.now() - startedAt} ms`);
      const client = connect(first);
      try {
        assert.equal(first.origin, 'created');
        assert.equal(first.nodes.filter((node) => node.role === 'master').length, 3);
        assert.equal(first.nodes.filter((node) => node.replicaOf !== undefined).length, 3);
        for (const { port } of options.nodes ?? [])
          assert.ok(existsSync(join(dataDir, String(port), 'nodes.conf')), `no nodes.conf for ${port}`);
        const node = { host: '127.0.0.1', port: first.nodes[0]!.port };
        assert.deepEqual(await askNode(node, ['CONFIG', 'GET', 'appendonly']), ['appendonly', 'yes']);
        assert.deepEqual(await askNode(node, ['CONFIG', 'GET', 'maxmemory-policy']), [
          'maxmemory-policy',
          'noeviction',
        ]);
        assert.deepEqual(await askNode(node, ['CONFIG', 'GET', 'maxmemory']), ['maxmemory', String(64 * 1024 ** 2)]);
        await Promise.all(keys.map((key) => client.set(key, key)));

        // Started again while it runs: the running cluster is used, and left running.
        const again = await startLocalCluster(options);
        assert.equal(again.origin, 'running');
        await again.stop();
        assert.equal(await client.get(keys[0]!), keys[0]);
      } finally {
        client.disconnect();
        startedAt = Date.now();
        await first.stop();
        t.diagnostic(`stopped in ${Date.now() - startedAt} ms`);
      }
      for (const { port } of first.nodes) await assert.rejects(askNode({ host: '127.0.0.1', port }, ['PING'], 200));

      startedAt = Date.now();
      const second = await startLocalCluster(options);
      t.diagnostic(`back from its data dir in ${Date.now() - startedAt} ms`);
      const reader = connect(second);
      try {
        assert.equal(second.origin, 'reused');
        assert.deepEqual(second.nodes, first.nodes);
        assert.deepEqual(await Promise.all(keys.map((key) => reader.get(key))), keys);
      } finally {
        reader.disconnect();
        await second.stop();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('says how to install Redis when redis-server or redis-cli is not on PATH', async () => {
    await assert.rejects(
      startLocalCluster({
        dataDir: '/nonexistent',
        nodes: await clusterPorts(),
        maxmemoryBytes: 64 * 1024 ** 2,
        path: '/nonexistent-bin',
        log: quiet,
      }),
      (e: unknown) => e instanceof NoRedisError && /apt-get install redis-server/.test(e.message),
    );
  });
});
