import { once } from 'node:events';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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
