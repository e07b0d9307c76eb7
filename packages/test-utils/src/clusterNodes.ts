import { Redis } from 'ioredis';

export const CLUSTER_SLOTS = 16384;

export interface NodeAddress {
  host: string;
  port: number;
}

export type NodeRole = 'master' | 'replica';

/** One line of `CLUSTER NODES`: how the node asked sees one node of the cluster (itself included). */
export interface NodeView extends NodeAddress {
  id: string;
  role: NodeRole;
  /** The id of its master, for a replica. */
  masterId: string | undefined;
  /** The line the node asked wrote about itself. */
  myself: boolean;
  /** `fail?`: the node asked cannot reach it; `fail`: a majority of masters agreed it is down. */
  suspected: boolean;
  failed: boolean;
  /** The slots it serves, as inclusive ranges. */
  slots: Array<[number, number]>;
}

export const addressOf = (node: NodeAddress): string => `${node.host}:${node.port}`;

/**
 * One command on one node, over a connection of its own that never retries or queues: a node that
 * is down or paused fails the call within `timeoutMs` instead of holding it until it comes back.
 */
export async function askNode(node: NodeAddress, command: string[], timeoutMs = 1000): Promise<unknown> {
  const connection = new Redis({
    host: node.host,
    port: node.port,
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
  });
  connection.on('error', () => {});
  try {
    await connection.connect();
    const [name, ...args] = command;
    return await connection.call(name ?? '', ...args);
  } finally {
    connection.disconnect();
  }
}

export async function clusterNodesOf(node: NodeAddress, timeoutMs?: number): Promise<NodeView[]> {
  return parseClusterNodes(String(await askNode(node, ['CLUSTER', 'NODES'], timeoutMs)));
}

/** `INFO` or `CLUSTER INFO` text as fields: `field:value` lines, `#` sections skipped. */
export function parseInfo(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return fields;
}

/**
 * `<id> <ip:port@cport[,hostname]> <flags> <master> <ping-sent> <pong-recv> <epoch> <link> <slot>...`;
 * a slot is `n` or `a-b`, or `[n->-id]` / `[n-<-id]` for a migration the node asked takes part in (skipped:
 * the slot still belongs to the node that serves it).
 */
export function parseClusterNodes(text: string): NodeView[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line): NodeView => {
      const [id = '', address = '', flagList = '', master = '-', , , , , ...slotFields] = line.split(' ');
      const endpoint = address.split('@')[0] ?? '';
      const colon = endpoint.lastIndexOf(':');
      const flags = flagList.split(',');
      return {
        id,
        host: endpoint.slice(0, colon),
        port: Number(endpoint.slice(colon + 1)),
        role: flags.includes('slave') ? 'replica' : 'master',
        masterId: master === '-' ? undefined : master,
        myself: flags.includes('myself'),
        suspected: flags.includes('fail?'),
        failed: flags.includes('fail'),
        slots: slotFields.filter((field) => !field.startsWith('[')).map(slotRange),
      };
    });
}

function slotRange(field: string): [number, number] {
  const [first, last = first] = field.split('-');
  return [Number(first), Number(last)];
}

export const servesSlot = (view: NodeView, slot: number): boolean =>
  view.slots.some(([first, last]) => first <= slot && slot <= last);
