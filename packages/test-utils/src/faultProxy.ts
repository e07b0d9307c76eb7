import { connect, createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';

/**
 * A TCP proxy between Flashline's processes and Redis that injects network faults:
 * - `latencyMs`: delays every chunk in both directions (order kept);
 * - `cutAll()`: resets every open connection; `refuse`: resets new ones as they arrive;
 * - `dropReplyAfter(marker)`: the next command containing `marker` reaches Redis and runs, but
 *   its reply (and anything after it on that connection) is swallowed and the connection cut,
 *   as when a reply is lost on the wire. ioredis re-sends unanswered commands after it
 *   reconnects, so whatever was hit must be idempotent.
 */
export interface FaultProxy {
  url: string;
  port: number;
  latencyMs: number;
  refuse: boolean;
  cutAll(): void;
  dropReplyAfter(marker: string, times?: number): void;
  /** Runs `action` once, synchronously, when a client sends a chunk holding every marker, before Redis gets it. */
  whenClientSends(markers: string[], action: (chunk: Buffer) => void): void;
  readonly repliesDropped: number;
  close(): Promise<void>;
}

interface Link {
  client: Socket;
  upstream: Socket;
  swallowing: boolean;
}

export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  const links = new Set<Link>();
  const drops: { marker: Buffer; left: number }[] = [];
  const triggers: { markers: Buffer[]; action: (chunk: Buffer) => void }[] = [];
  let repliesDropped = 0;

  const proxy: FaultProxy = {
    url: '',
    port: 0,
    latencyMs: 0,
    refuse: false,
    cutAll() {
      for (const link of links) cut(link);
    },
    dropReplyAfter(marker, times = 1) {
      drops.push({ marker: Buffer.from(marker), left: times });
    },
    whenClientSends(markers, action) {
      triggers.push({ markers: markers.map((m) => Buffer.from(m)), action });
    },
    get repliesDropped() {
      return repliesDropped;
    },
    async close() {
      proxy.cutAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  function cut(link: Link): void {
    link.client.resetAndDestroy();
    link.upstream.destroy();
    links.delete(link);
  }

  /**
   * Writes after the current latency, in order. One timer drains a FIFO: separate timers per chunk
   * could fire out of order (timers of different durations due in the same millisecond), which
   * would swap two replies on a connection: a fault no real network makes over TCP.
   */
  function delayedWriter(to: Socket): (chunk: Buffer) => void {
    const queue: { at: number; chunk: Buffer }[] = [];
    let timer: NodeJS.Timeout | undefined;
    const drain = () => {
      timer = undefined;
      while (queue.length > 0 && queue[0]!.at <= Date.now()) {
        const { chunk } = queue.shift()!;
        if (!to.destroyed) to.write(chunk);
      }
      if (queue.length > 0) timer = setTimeout(drain, queue[0]!.at - Date.now());
    };
    return (chunk) => {
      if (proxy.latencyMs <= 0 && queue.length === 0) {
        if (!to.destroyed) to.write(chunk);
        return;
      }
      const last = queue.at(-1)?.at ?? 0;
      queue.push({ at: Math.max(Date.now() + proxy.latencyMs, last), chunk });
      timer ??= setTimeout(drain, queue[0]!.at - Date.now());
    };
  }

  const server: Server = createServer((client) => {
    if (proxy.refuse) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    const link: Link = { client, upstream, swallowing: false };
    links.add(link);
    const toUpstream = delayedWriter(upstream);
    const toClient = delayedWriter(client);
    client.on('data', (chunk: Buffer) => {
      const trigger = triggers.findIndex((t) => t.markers.every((m) => chunk.includes(m)));
      if (trigger !== -1) triggers.splice(trigger, 1)[0]!.action(chunk);
      const drop = drops.find((d) => d.left > 0 && chunk.includes(d.marker));
      if (drop && !link.swallowing) {
        drop.left -= 1;
        link.swallowing = true;
        repliesDropped += 1;
        // Long enough for Redis to run the command, then the connection dies unanswered.
        setTimeout(() => cut(link), 100 + proxy.latencyMs);
      }
      toUpstream(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!link.swallowing) toClient(chunk);
    });
    const close = () => cut(link);
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  proxy.port = typeof address === 'object' && address ? address.port : 0;
  proxy.url = `redis://127.0.0.1:${proxy.port}`;
  return proxy;
}
