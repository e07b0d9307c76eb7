import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import {
  SYSTEM_ADMIN_TOKEN,
  freePort,
  requestJson,
  startApp,
  startSystem,
  waitUntilDecided,
  type AppProcess,
  type System,
} from '@flashline/test-utils';
import { ADMIN, VIEWER } from './fixture.ts';

/**
 * The front door on the sale panel, in a real browser: two real API processes of one sale, a known
 * mix of orders sent to each, a worker deciding, the dashboard process summing what both publish.
 */
const CHROMIUM = '/usr/bin/chromium';
const HOUR = 3_600_000;
const admin = { authorization: `Bearer ${SYSTEM_ADMIN_TOKEN}` };

describe('sale panel: the front door and the orders won, in a browser', { timeout: 180_000 }, () => {
  let system: System;
  let second: AppProcess;
  let dashboard: AppProcess;
  let browser: Browser;
  let apis: [string, string];
  let base: string;

  // A buyer's second order within a minute is rate limited, whatever the clock.
  const limits = { RATE_LIMIT_PER_USER: '1', RATE_LIMIT_WINDOW_MS: '60000' };

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
    [system, browser] = await Promise.all([
      startSystem({ workers: 1, appendonly: false, env: limits }),
      chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] }),
    ]);
    const [apiPort, dashboardPort] = [await freePort(), await freePort()];
    const shared = { REDIS_URL: system.redis.url, KEY_PREFIX: system.prefix, REDIS_TIMEOUT_MS: '1000' };
    second = startApp('apps/api/src/main.ts', {
      ...shared,
      ...limits,
      ADMIN_TOKEN: SYSTEM_ADMIN_TOKEN,
      RATE_LIMIT_PER_IP: '0',
      PORT: String(apiPort),
    });
    dashboard = startApp('apps/dashboard/src/main.ts', {
      ...shared,
      DASHBOARD_PORT: String(dashboardPort),
      DASHBOARD_USER: ADMIN.user,
      DASHBOARD_PASSWORD: ADMIN.password,
      DASHBOARD_VIEWER_USER: VIEWER.user,
      DASHBOARD_VIEWER_PASSWORD: VIEWER.password,
    });
    await Promise.all([
      second.waitForLog(/api listening/, 30_000),
      dashboard.waitForLog(/dashboard listening/, 30_000),
    ]);
    apis = [system.apiUrl, `http://127.0.0.1:${apiPort}`];
    base = `http://127.0.0.1:${dashboardPort}`;
    const put = async (productId: string, body: object) =>
      assert.equal(
        (await requestJson(`${apis[0]}/products/${productId}`, { method: 'PUT', headers: admin, body })).status,
        200,
      );
    await put('open', { stock: 100 });
    await put('gone', { stock: 0 });
    await put('soon', { stock: 5, opensAt: new Date(Date.now() + HOUR).toISOString() });
    await put('over', { stock: 5, closesAt: new Date(Date.now() - 1000).toISOString() });
    await put('held', { stock: 5, holdSeconds: 600 });
  });

  after(async () => {
    await browser?.close();
    assert.equal(await dashboard?.stop(), 0, 'the dashboard did not stop cleanly');
    await second?.stop();
    await system?.stop();
  });

  /** Sends `count` orders to API `api` (0 or 1), checks each status, and returns the accepted orders' ids. */
  async function send(api: 0 | 1, count: number, body: (i: number) => object, status: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const reply = await requestJson(`${apis[api]}/orders`, { method: 'POST', body: body(i) });
      assert.equal(reply.status, status, `${JSON.stringify(body(i))}: ${JSON.stringify(reply.body)}`);
      if (reply.status === 202) ids.push(String((reply.body as { orderId: string }).orderId));
    }
    return ids;
  }
  const order = (productId: string, userId: string) => ({ productId, userId, quantity: 1 });
  const text = (page: Page, selector: string) =>
    page
      .locator(selector)
      .first()
      .textContent()
      .then((value) => Number((value ?? '').replaceAll(',', '')));

  it('shows the known mix by outcome, summed over both API processes, with rates, and names the orders won', async () => {
    const context = await browser.newContext({ httpCredentials: { username: VIEWER.user, password: VIEWER.password } });
    await context.route('**/*', (route) => (route.request().url().startsWith(base) ? route.continue() : route.abort()));
    const page = await context.newPage();
    await page.goto(`${base}/sale`);
    await page.locator('[data-door="processes"]', { hasText: /^2$/ }).waitFor({ timeout: 15_000 });
    const accepted = [
      ...(await send(0, 5, (i) => order('open', `one-${i}`), 202)),
      ...(await send(1, 3, (i) => order('open', `two-${i}`), 202)),
    ];
    await send(0, 1, () => order('open', 'one-0'), 429);
    await send(1, 2, (i) => order('open', `two-${i}`), 429);
    await send(0, 4, (i) => order('gone', `one-${i}`), 409);
    await send(1, 2, (i) => order('gone', `two-${i}`), 409);
    await send(0, 2, (i) => order('soon', `one-${i}`), 409);
    await send(1, 1, () => order('soon', 'two-x'), 409);
    await send(0, 1, () => order('over', 'one-x'), 409);
    await send(1, 2, (i) => order('over', `two-${i}`), 409);
    await send(0, 2, (i) => ({ productId: 'open', userId: `bad-${i}`, quantity: 0 }), 400);
    await send(1, 1, () => order('nothing', 'two-x'), 404);
    // A sale with a hold: the order is won, held, then paid.
    const [held] = await send(1, 1, () => order('held', 'payer'), 202);
    await waitUntilDecided(apis[0], accepted, 20_000);
    for (let i = 0; i < 100; i++) {
      if ((await requestJson(`${apis[0]}/orders/${held}`)).body.status === 'reserved') break;
      await sleep(100);
    }
    const paid = await requestJson(`${apis[0]}/orders/${held}/confirm`, { method: 'POST', headers: admin });
    assert.equal(paid.status, 200);

    const expected = {
      processes: 2,
      accepted: 9,
      sold_out: 6,
      rate_limited: 3,
      not_open: 3,
      closed: 3,
      invalid: 3,
      unavailable: 0,
      other: 0,
    };
    const read = async (): Promise<Record<string, number>> =>
      Object.fromEntries(
        await Promise.all(
          Object.keys(expected).map(async (key): Promise<[string, number]> => [
            key,
            await text(page, `[data-door="${key}"]`),
          ]),
        ),
      );
    let shown: Record<string, number> = {};
    for (const deadline = Date.now() + 15_000; Date.now() < deadline; await sleep(200)) {
      shown = await read();
      if (JSON.stringify(shown) === JSON.stringify(expected)) break;
    }
    assert.deepEqual(shown, expected, 'the door figures on the panel');
    // The mix was sent in the last few seconds: the rates show it (a 5-second window), and fall to 0 after.
    assert.ok((await text(page, '[data-door-rate="requests"]')) > 0, 'no request rate shown');
    await page.locator('[data-door-rate="requests"]', { hasText: /^0\.0$/ }).waitFor({ timeout: 15_000 });
    // 27 orders, 5 PUTs and a confirm, and the polls of the orders' state.
    assert.ok((await text(page, '[data-door="requests"]')) >= 33, 'a request at the door was not counted');

    // Orders won: 8 confirmed at once and 1 held (then paid): never "0 won" in a sale with holds.
    for (let i = 0; i < 50 && (await text(page, '[data-total="paid"]')) !== 1; i++) await sleep(200);
    assert.deepEqual(
      {
        won: await text(page, '[data-total="won"]'),
        confirmed: await text(page, '[data-total="confirmed"]'),
        held: await text(page, '[data-total="held"]'),
        sold: await text(page, '[data-total="sold"]'),
        heldNow: await text(page, '[data-total="reserved"]'),
        paid: await text(page, '[data-total="paid"]'),
      },
      { won: 9, confirmed: 8, held: 1, sold: 9, heldNow: 0, paid: 1 },
    );
    const row = page.locator('#rows tr[data-product="held"]');
    assert.equal(await text(page, '#rows tr[data-product="held"] td[data-field="held"]'), 1);
    assert.equal(await row.locator('td[data-field="confirmed"]').textContent(), '0');
    await context.close();
  });
});
