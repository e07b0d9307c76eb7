import { setTimeout as sleep } from 'node:timers/promises';
import {
  CLUSTER_SLOTS,
  addressOf,
  askNode,
  clusterNodesOf,
  parseInfo,
  type NodeAddress,
  type NodeView,
} from './clusterNodes.ts';

/**
 * What keeps the cluster from being healthy, as its running nodes (`live`) see it; none: healthy. Each
 * says cluster_state:ok with every slot served, each replica's link to its master is up, no running node
 * is suspected by another, no slot is left with a node that is down, and all agree on who serves which
 * slots and who replicates whom. The last two matter right after a kill or a reshard: until the node
 * timeout passes the cluster still says ok about a dead master, and gossip spreads a new owner over a
 * few hundred milliseconds.
 */
export async function clusterProblems(live: NodeAddress[]): Promise<string[]> {
  const running = new Set(live.map(addressOf));
  const reports = await Promise.all(live.map((node) => reportOf(node, running)));
  const problems = reports.flatMap((report) => report.problems);
  if (new Set(reports.map((report) => report.layout)).size > 1)
    problems.push('the nodes do not agree yet on who serves which slots and who replicates whom');
  return problems;
}

export async function waitUntilClusterHealthy(live: NodeAddress[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const problems = await clusterProblems(live);
    if (problems.length === 0) return;
    if (Date.now() > deadline)
      throw new Error(`the cluster was not healthy within ${timeoutMs} ms:\n  ${problems.join('\n  ')}`);
    await sleep(50);
  }
}

async function reportOf(node: NodeAddress, running: Set<string>): Promise<{ problems: string[]; layout: string }> {
  const name = addressOf(node);
  try {
    const [info, views] = await Promise.all([
      askNode(node, ['CLUSTER', 'INFO']).then((text) => parseInfo(String(text))),
      clusterNodesOf(node),
    ]);
    const problems: string[] = [];
    if (info.cluster_state !== 'ok') problems.push(`${name}: cluster_state:${info.cluster_state}`);
    if (info.cluster_slots_ok !== String(CLUSTER_SLOTS))
      problems.push(`${name}: cluster_slots_ok:${info.cluster_slots_ok}`);
    if (views.find((view) => view.myself)?.role === 'replica') {
      const replication = parseInfo(String(await askNode(node, ['INFO', 'replication'])));
      if (replication.master_link_status !== 'up')
        problems.push(`${name}: master_link_status:${replication.master_link_status}`);
    }
    for (const view of views) {
      const up = running.has(addressOf(view));
      if (up && (view.suspected || view.failed)) problems.push(`${name} sees ${addressOf(view)} failing`);
      if (!up && view.slots.length > 0) problems.push(`${name}: slots still with ${addressOf(view)}, which is down`);
    }
    return { problems, layout: layoutOf(views.filter((view) => running.has(addressOf(view)))) };
  } catch (error) {
    return { problems: [`${name}: ${error instanceof Error ? error.message : String(error)}`], layout: name };
  }
}

function layoutOf(views: NodeView[]): string {
  return views
    .map((view) => {
      const slots = view.slots.map(([first, last]) => `${first}-${last}`).join(',');
      return `${view.id} ${view.role} ${view.masterId ?? '-'} ${slots}`;
    })
    .sort()
    .join('\n');
}
