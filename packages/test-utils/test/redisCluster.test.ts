import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { Cluster } from 'ioredis';
import {
  askNode,
  parseInfo,
  startRedisCluster,
  useRedisCluster,
  type ClusterNode,
  type RedisCluster,
} from '../src/index.ts';

function connect(cluster: RedisCluster): Cluster {
  const client = new Cluster(
    cluster.seedNodes.split(',').map((address) => {
      const [host, port] = address.split(':');
      return { host, port: Number(port) };
    }),
  );
  client.on('error', () => {});
  return client;
}

/** Until the replica has everything its master wrote: a write not yet replicated is lost when the master dies. */
async function untilReplicated(master: ClusterNode, replica: ClusterNode): Promise<void> {
  for (;;) {
    const written = parseInfo(String(await askNode(master, ['INFO', 'replication']))).master_repl_offset;
    const copied = parseInfo(String(await askNode(replica, ['INFO', 'replication']))).slave_repl_offset;
    if (written === copied) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function untilMaster(node: ClusterNode): Promise<void> {
  while (((await askNode(node, ['ROLE'])) as string[])[0] !== 'master')
    await new Promise((resolve) => setTimeout(resolve, 20));
}

const ids = (nodes: ClusterNode[]) => nodes.map((node) => node.id).sort();

describe('startRedisCluster', () => {
  it('starts in a few seconds, and stop kills every node and removes their dirs', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'flashline-cluster-test-'));
    try {
      const startedAt = Date.now();
      const cluster = await startRedisCluster({ dir });
      t.diagnostic(`3 masters + 3 replicas healthy in ${Date.now() - startedAt} ms`);
      assert.equal(readdirSync(dir).length, 6);
      assert.ok(readdirSync(dir).every((node) => existsSync(join(dir, node, 'nodes.conf'))));
      await cluster.stop();
      assert.deepEqual(readdirSync(dir), []);
      await assert.rejects(askNode(cluster.nodes[0]!, ['PING'], 200));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a Redis Cluster under faults', () => {
  let client: Cluster;
  const context = useRedisCluster({ beforeStop: () => client.disconnect() });
  before(() => {
    client = connect(context.cluster);
  });

  it('has 3 masters with a replica each, every slot served, and a client that finds them from the seed nodes', async () => {
    const { cluster } = context;
    assert.equal(cluster.nodes.length, 6);
    assert.equal(cluster.seedNodes.split(',').length, 6);
    const masters = await cluster.masters();
    assert.deepEqual(ids(masters), ids(cluster.nodes.filter((node) => node.role === 'master')));
    for (const master of masters) assert.equal((await cluster.replicasOf(master)).length, 1);
    for (const slot of [0, 5461, 10923, 16383]) {
      const owner = await cluster.nodeForSlot(slot);
      assert.ok(masters.some((master) => master.id === owner.id));
    }
    await client.set('hello', 'world');
    assert.equal(await client.get('hello'), 'world');
  });

  it('promotes the replica of a SIGKILLed master, and the client reads every key afterwards', async (t) => {
    const { cluster } = context;
    const keys = Array.from({ length: 300 }, (_, i) => `kill:${i}`);
    await Promise.all(keys.map((key) => client.set(key, key)));
    const victim = await cluster.nodeForSlot(cluster.slotOfKey(keys[0]!));
    const [heir] = await cluster.replicasOf(victim);
    assert.ok(heir);
    await untilReplicated(victim, heir);

    const killedAt = Date.now();
    await cluster.kill(victim);
    await untilMaster(heir);
    const promotedMs = Date.now() - killedAt;
    await cluster.waitUntilHealthy();
    t.diagnostic(`replica promoted ${promotedMs} ms after SIGKILL, cluster healthy after ${Date.now() - killedAt} ms`);

    const masters = await cluster.masters();
    assert.ok(masters.some((master) => master.id === heir.id));
    assert.ok(!masters.some((master) => master.id === victim.id));
    assert.equal((await cluster.nodeForSlot(cluster.slotOfKey(keys[0]!))).id, heir.id);
    assert.deepEqual(await Promise.all(keys.map((key) => client.get(key))), keys);

    // Back on its port and nodes.conf, the old master rejoins as its successor's replica.
    await cluster.restart(victim);
    await cluster.waitUntilHealthy();
    assert.deepEqual(ids(await cluster.replicasOf(heir)), [victim.id]);
  });

  it('moves a slot while a client writes to it: no write lost, the slot then served by the target', async (t) => {
    const { cluster } = context;
    const tag = '{moving}';
    const slot = cluster.slotOfKey(tag);
    const source = await cluster.nodeForSlot(slot);
    const target = (await cluster.masters()).find((master) => master.id !== source.id);
    assert.ok(target);
    // Keys there before the move, for several MIGRATE batches of 100.
    const before = Array.from({ length: 450 }, (_, i) => `${tag}:before:${i}`);
    await Promise.all(before.map((key, i) => client.set(key, i)));

    let acknowledged = 0;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        const n = acknowledged + 1;
        // A list written all along (moved with the keys, then written on the target) and a new key each time.
        await client.rpush(`${tag}:log`, n);
        await client.set(`${tag}:during:${n}`, n);
        acknowledged = n;
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const atStart = acknowledged;
    const startedAt = Date.now();
    await cluster.moveSlots([slot], target);
    const duringMove = acknowledged - atStart;
    t.diagnostic(`slot ${slot} moved in ${Date.now() - startedAt} ms with ${duringMove} writes acknowledged meanwhile`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    writing = false;
    await writer;

    assert.ok(duringMove > 0, 'no write happened during the move');
    assert.equal((await cluster.nodeForSlot(slot)).id, target.id);
    const written = Array.from({ length: acknowledged }, (_, i) => String(i + 1));
    assert.deepEqual(await client.lrange(`${tag}:log`, 0, -1), written);
    assert.deepEqual(await client.mget(written.map((n) => `${tag}:during:${n}`)), written);
    assert.deepEqual(
      await client.mget(before),
      before.map((_, i) => String(i)),
    );
    const keysOn = async (node: ClusterNode) =>
      Number(await askNode(node, ['CLUSTER', 'COUNTKEYSINSLOT', String(slot)]));
    assert.equal(await keysOn(target), before.length + 1 + acknowledged);
    assert.equal(await keysOn(source), 0);
  });

  it('a takeover failover makes a replica the master at once, and its old master its replica', async (t) => {
    const { cluster } = context;
    await client.set('takeover', 'before');
    const master = await cluster.nodeForSlot(cluster.slotOfKey('takeover'));
    const [replica] = await cluster.replicasOf(master);
    assert.ok(replica);
    await untilReplicated(master, replica);

    const startedAt = Date.now();
    await cluster.failover(replica, 'takeover');
    t.diagnostic(`takeover failover healthy after ${Date.now() - startedAt} ms`);
    assert.equal((await cluster.nodeForSlot(cluster.slotOfKey('takeover'))).id, replica.id);
    assert.deepEqual(ids(await cluster.replicasOf(replica)), [master.id]);
    assert.equal(await client.get('takeover'), 'before');
    await client.set('takeover', 'after');
    assert.equal(await client.get('takeover'), 'after');
  });

  it('fails over a paused master; resumed, the old master finds it was replaced and becomes a replica', async (t) => {
    const { cluster } = context;
    await client.set('paused', 'before');
    const master = await cluster.nodeForSlot(cluster.slotOfKey('paused'));
    const [replica] = await cluster.replicasOf(master);
    assert.ok(replica);
    await untilReplicated(master, replica);

    const pausedAt = Date.now();
    cluster.pause(master);
    await untilMaster(replica);
    t.diagnostic(`replica promoted ${Date.now() - pausedAt} ms after SIGSTOP`);
    await cluster.waitUntilHealthy();
    cluster.resume(master);
    await cluster.waitUntilHealthy();
    assert.deepEqual(ids(await cluster.replicasOf(replica)), [master.id]);
    assert.equal(await client.get('paused'), 'before');
  });
});
