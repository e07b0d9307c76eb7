import { once } from 'node:events';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Config } from '../config/config.ts';

export type HttpLimits = Config['http'];

export interface Listening {
  server: Server;
  port: number;
  /** Stops accepting; requests in flight finish (each is short), idle keep-alive sockets close. */
  close(): Promise<void>;
}

/** Serves `handler` within `limits` (HTTP_* settings): see the config for why each bound exists. */
export async function listen(
  handler: RequestListener,
  port: number,
  host: string,
  limits: HttpLimits,
): Promise<Listening> {
  // Once closing, every answer closes its connection: a client that sends its next request as soon as
  // the last is answered (a burst on kept-alive connections) never leaves one idle, and the close waited
  // for it until the shutdown deadline. Its request is answered; the next goes to another process.
  let closing = false;
  const serve: RequestListener = (req, res) => {
    if (closing) res.shouldKeepAlive = false;
    handler(req, res);
  };
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      // Node's own rule: the time for the whole request is at least the time for its headers.
      requestTimeout: Math.max(limits.requestTimeoutMs, limits.headersTimeoutMs),
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // Node looks for overdue requests this often (30 s by default): often enough to keep the timeouts.
      connectionsCheckingInterval: Math.min(1000, Math.ceil(limits.headersTimeoutMs / 4)),
    },
    serve,
  );
  server.maxConnections = limits.maxConnections;
  if (limits.maxConnectionsPerIp > 0) capPerAddress(server, limits.maxConnectionsPerIp);
  server.listen(port, host);
  await once(server, 'listening');
  return {
    server,
    port: (server.address() as AddressInfo).port,
    async close() {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await closed;
    },
  };
}

/**
 * At most `cap` sockets open at once from one address, counted from the connect: a socket that never
 * finishes its headers holds its place until it closes (HTTP_HEADERS_TIMEOUT_MS), so it is counted as
 * any other. Past the cap a new socket is destroyed at once. Only addresses with an open socket are
 * kept, so the map is no larger than the connections held (HTTP_MAX_CONNECTIONS).
 */
function capPerAddress(server: Server, cap: number): void {
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    const count = open.get(address) ?? 0;
    if (count >= cap) {
      socket.destroy();
      return;
    }
    open.set(address, count + 1);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left === 0) open.delete(address);
      else open.set(address, left);
    });
  });
}
