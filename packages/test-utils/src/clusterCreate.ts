import { spawn } from 'node:child_process';
import { addressOf, type NodeAddress } from './clusterNodes.ts';

/**
 * Joins empty cluster-enabled nodes into one cluster with `redis-cli --cluster create`: the slots split
 * evenly over the masters, `replicasPerMaster` replicas each. redis-cli picks which nodes become
 * masters; read CLUSTER NODES afterwards. It needs at least 3 masters, and takes one to two seconds: it
 * waits a second for the nodes to meet, then checks once a second that they agree.
 */
export async function createCluster(
  nodes: NodeAddress[],
  replicasPerMaster: number,
  redisCli = 'redis-cli',
): Promise<void> {
  const args = [
    '--cluster',
    'create',
    ...nodes.map(addressOf),
    '--cluster-replicas',
    String(replicasPerMaster),
    '--cluster-yes',
  ];
  const { code, output } = await run(redisCli, args);
  // A refusal (a node that already knows others) exits 1; whether the cluster then settles is waitUntilClusterHealthy's to tell.
  if (code !== 0) throw new Error(`redis-cli --cluster create failed (exit ${code}):\n${output}`);
}

function run(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}
