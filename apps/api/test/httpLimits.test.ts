import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { listen, loadConfig, type Listening } from '@flashline/core';
import { useApis } from './harness.ts';

/** A raw client socket to the server, resolved once connected. */
async function socketTo(http: Listening, from?: string): Promise<Socket> {
  const socket = connect({ port: http.port, host: '127.0.0.1', ...(from ? { localAddress: from } : {}) });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.on('error', () => {}); // a reset by the server is what some of these tests wait for
  return socket;
}

/** Milliseconds until the server closes the socket; rejects past `withinMs`. */
function closedWithin(socket: Socket, withinMs: number): Promise<number> {
  const startedAt = Date.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still open after ${withinMs} ms`)), withinMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - startedAt);
    });
  });
}

describe('HTTP limits', () => {
  const ctx = useApis();

  async function serve(env: Record<string, string>): Promise<Listening> {
    const api = await ctx.api('http-limits', env);
    return listen(api.app, 0, '127.0.0.1', api.config.http);
  }

  it('cuts off a client that sends its headers too slowly, within HTTP_HEADERS_TIMEOUT_MS', async () => {
    const http = await serve({ HTTP_HEADERS_TIMEOUT_MS: '500' });
    try {
      const socket = await socketTo(http);
      socket.write('GET /healthz HTTP/1.1\r\nHost: flashline\r\n');
      // A header line every 100 ms, never the blank line that ends them: a slowloris.
      const drip = setInterval(() => socket.writable && socket.write('X-Slow: 1\r\n'), 100);
      try {
        const ms = await closedWithin(socket, 3000);
        assert.ok(ms >= 400, `cut off after ${ms} ms, before the timeout`);
      } finally {
        clearInterval(drip);
        socket.destroy();
      }
    } finally {
      await http.close();
    }
  });

  it('closes an idle keep-alive connection after HTTP_KEEP_ALIVE_TIMEOUT_MS', async () => {
    const http = await serve({ HTTP_KEEP_ALIVE_TIMEOUT_MS: '300' });
    try {
      const socket = await socketTo(http);
      socket.write('GET /healthz HTTP/1.1\r\nHost: flashline\r\n\r\n');
      await new Promise((resolve) => socket.once('data', resolve));
      const ms = await closedWithin(socket, 3000);
      assert.ok(ms < 2000, `idle for ${ms} ms`);
      socket.destroy();
    } finally {
      await http.close();
    }
  });

  it('refuses connections past HTTP_MAX_CONNECTIONS', async () => {
    const http = await serve({ HTTP_MAX_CONNECTIONS: '2' });
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 2; i++) sockets.push(await socketTo(http));
      const third = await socketTo(http);
      sockets.push(third);
      await closedWithin(third, 2000);
      // The first two still get answers.
      const first = sockets[0]!;
      first.write('GET /healthz HTTP/1.1\r\nHost: flashline\r\n\r\n');
      const reply = await new Promise<Buffer>((resolve) => first.once('data', resolve));
      assert.match(reply.toString(), /^HTTP\/1\.1 200/);
    } finally {
      for (const socket of sockets) socket.destroy();
      await http.close();
    }
  });

  it('caps the connections of one address at HTTP_MAX_CONNECTIONS_PER_IP, slow-header sockets included', async () => {
    const http = await serve({ HTTP_MAX_CONNECTIONS_PER_IP: '2' });
    const sockets: Socket[] = [];
    const get = async (socket: Socket) => {
      socket.write('GET /healthz HTTP/1.1\r\nHost: flashline\r\n\r\n');
      return (await new Promise<Buffer>((resolve) => socket.once('data', resolve))).toString();
    };
    try {
      // Two sockets that never finish their headers: counted from their connect.
      for (let i = 0; i < 2; i++) {
        const slow = await socketTo(http, '127.0.0.1');
        slow.write('GET /healthz HTTP/1.1\r\n');
        sockets.push(slow);
      }
      const third = await socketTo(http, '127.0.0.1');
      sockets.push(third);
      await closedWithin(third, 2000);
      // Another address is not affected.
      const other = await socketTo(http, '127.0.0.2');
      sockets.push(other);
      assert.match(await get(other), /^HTTP\/1\.1 200/);
      // A closed socket gives its place back.
      sockets[0]!.destroy();
      await new Promise((resolve) => setTimeout(resolve, 100));
      const again = await socketTo(http, '127.0.0.1');
      sockets.push(again);
      assert.match(await get(again), /^HTTP\/1\.1 200/);
    } finally {
      for (const socket of sockets) socket.destroy();
      await http.close();
    }
  });

  it('defaults HTTP_MAX_CONNECTIONS_PER_IP to 1000, and to off behind a trusted proxy (whose address it would be)', () => {
    assert.equal(loadConfig({}).http.maxConnectionsPerIp, 1000);
    assert.equal(loadConfig({ TRUST_PROXY: 'loopback' }).http.maxConnectionsPerIp, 0);
    assert.equal(
      loadConfig({ TRUST_PROXY: 'loopback', HTTP_MAX_CONNECTIONS_PER_IP: '50' }).http.maxConnectionsPerIp,
      50,
    );
    assert.equal(loadConfig({ HTTP_MAX_CONNECTIONS_PER_IP: '0' }).http.maxConnectionsPerIp, 0);
  });
});
