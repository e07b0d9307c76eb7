import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { listen, loadConfig, setProduct, type Listening } from '@flashline/core';
import { startRedis, type TestRedis } from '@flashline/test-utils';
import { ADMIN, VIEWER, dashboardOn, type DashboardFixture } from './fixture.ts';

const basic = ({ user, password }: { user: string; password: string }) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** Polls `condition` every 50 ms for up to `ms`; true when it held. */
async function within(ms: number, condition: () => boolean): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(50)) if (condition()) return true;
  return condition();
}

describe('sale panel streams: what one client may hold', () => {
  let server: TestRedis;
  let fixture: DashboardFixture;
  let http: Listening;
  let base: string;

  before(async () => {
    server = await startRedis();
    fixture = dashboardOn(server, 'streams', { intervalMs: 100, env: { SALE_PANEL_MAX_BUFFER_BYTES: '65536' } });
    http = await listen(fixture.app, 0, '127.0.0.1', loadConfig({}).http);
    base = `http://127.0.0.1:${http.port}`;
    // Enough products that each event of 200 rows is some 40 kB.
    await Promise.all(
      Array.from({ length: 400 }, (_, i) =>
        setProduct(fixture.redis, fixture.keys, `p-${String(i).padStart(4, '0')}`, { stock: 100 }),
      ),
    );
  });
  after(async () => {
    fixture.sale.close();
    await http.close();
    await fixture.close();
    await server.stop();
  });

  it('drops a client that does not read once its unsent events pass the bound', { timeout: 60_000 }, async () => {
    const socket: Socket = connect(http.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`GET /sale/events?limit=200 HTTP/1.1\r\nHost: dashboard\r\nAuthorization: ${basic(VIEWER)}\r\n\r\n`);
    // Never read: the kernel's socket buffers fill first (some MB on Linux: about 10 s here), then the
    // server's, which the bound cuts off.
    socket.pause();
    assert.ok(await within(2000, () => fixture.sale.listenerCount === 1), 'the stream did not open');
    const dropped = await within(30_000, () => fixture.sale.listenerCount === 0);
    if (!dropped) socket.destroy();
    assert.ok(dropped, 'a client that never reads still holds its stream after 30 s');
    // Once it reads again, it finds the stream ended.
    const ended = new Promise<boolean>((resolve) => {
      socket.on('close', () => resolve(true));
      setTimeout(() => resolve(false), 10_000).unref();
    });
    socket.on('data', () => {});
    socket.resume();
    const closed = await ended;
    socket.destroy();
    assert.ok(closed, 'the dropped stream did not end');
  });

  it('answers 429 past SALE_PANEL_STREAMS_PER_USER streams of one user (5 by default)', async () => {
    const controllers: AbortController[] = [];
    const open = async (who: { user: string; password: string }) => {
      const controller = new AbortController();
      controllers.push(controller);
      const res = await fetch(`${base}/sale/events`, {
        headers: { authorization: basic(who) },
        signal: controller.signal,
      });
      return res;
    };
    try {
      for (let i = 0; i < 5; i++) assert.equal((await open(VIEWER)).status, 200, `stream ${i + 1}`);
      const refused = await open(VIEWER);
      assert.equal(refused.status, 429);
      assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'rate_limited');
      assert.equal((await open(ADMIN)).status, 200, "another user's streams are their own");
      controllers[0]!.abort();
      assert.ok(await within(10_000, () => fixture.sale.listenerCount === 5), 'the closed stream was not released');
      assert.equal((await open(VIEWER)).status, 200, 'a stream closed frees its place');
    } finally {
      for (const controller of controllers) controller.abort();
    }
  });
});
