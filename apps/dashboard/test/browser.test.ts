import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { type Queue } from 'bullmq';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import {
  type RedisClient,
  ORDERS_QUEUE,
  connectRedis,
  createKeys,
  createOrdersQueue,
  getProduct,
  loadConfig,
  setProduct,
  type Keys,
} from '@flashline/core';
import {
  SYSTEM_ADMIN_TOKEN,
  freePort,
  repoRoot,
  requestJson,
  startApp,
  startSystem,
  submitOrders,
  waitUntilDecided,
  type AppProcess,
  type System,
} from '@flashline/test-utils';
import { ADMIN, VIEWER } from './fixture.ts';

/**
 * The dashboard in a real browser (Debian's chromium through playwright-core) against a real
 * Flashline: API, worker and dashboard processes on a private redis-server.
 * SCREENSHOTS=1 also writes docs/dashboard-board.png and docs/dashboard-panel.png.
 */
const CHROMIUM = '/usr/bin/chromium';
const screenshots = process.env.SCREENSHOTS === '1';
const HOT = ['hot-1', 'hot-2', 'hot-3', 'hot-4', 'hot-5'];
const HOT_STOCK = 800;
const BURST = 5000;
const STUCK = 'stuck-tv';

// Bounded: a stuck browser step fails the file instead of holding CI.
describe('dashboard in a browser', { timeout: 240_000 }, () => {
  let system: System;
  let redis: RedisClient;
  let keys: Keys;
  let queue: Queue;
  let dashboard: AppProcess;
  let base: string;
  let browser: Browser;
  let failedOrderId: string;
  const contexts: BrowserContext[] = [];

  const open = async (credentials?: { user: string; password: string }): Promise<Page> => {
    const context = await browser.newContext({
      viewport: { width: 1400, height: 900 },
      ...(credentials ? { httpCredentials: { username: credentials.user, password: credentials.password } } : {}),
    });
    contexts.push(context);
    // Only the dashboard: Bull Board's page links a web font, and a test must not wait on the internet.
    await context.route('**/*', (route) => (route.request().url().startsWith(base) ? route.continue() : route.abort()));
    return context.newPage();
  };

  before(async () => {
    // A missing browser is a failure, never a skip: CI installs it (.ci/run).
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
    // Two attempts a second apart: a job whose product lock is held elsewhere fails for good quickly.
    [system, browser] = await Promise.all([
      startSystem({ workers: 2, appendonly: false, env: { JOB_ATTEMPTS: '2', LOCK_WAIT_MS: '1000' } }),
      chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] }),
    ]);
    redis = connectRedis({ redisUrl: system.redis.url, redisTimeoutMs: 1000 }, 'worker');
    keys = createKeys(system.prefix);
    queue = createOrdersQueue(loadConfig({ KEY_PREFIX: system.prefix }), redis);
    // Its own process, as in production: the panel's staleness is then the dashboard's, not
    // that of this process's event loop, busy firing the burst.
    const port = await freePort();
    dashboard = startApp('apps/dashboard/src/main.ts', {
      REDIS_URL: system.redis.url,
      KEY_PREFIX: system.prefix,
      DASHBOARD_PORT: String(port),
      DASHBOARD_USER: ADMIN.user,
      DASHBOARD_PASSWORD: ADMIN.password,
      DASHBOARD_VIEWER_USER: VIEWER.user,
      DASHBOARD_VIEWER_PASSWORD: VIEWER.password,
    });
    await dashboard.waitForLog(/dashboard listening/, 30_000);
    base = `http://127.0.0.1:${port}`;

    // 1,000 products: five hot ones the burst hits, the rest idle.
    await Promise.all(
      Array.from({ length: 994 }, (_, i) => setProduct(redis, keys, `p-${String(i).padStart(4, '0')}`, { stock: 50 })),
    );
    for (const productId of [...HOT, STUCK]) {
      const reply = await requestJson(`${system.apiUrl}/products/${productId}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${SYSTEM_ADMIN_TOKEN}` },
        body: { stock: productId === STUCK ? 10 : HOT_STOCK },
      });
      assert.equal(reply.status, 200);
    }
    // A few orders decided normally, so the board has completed jobs to show.
    const warmUp = await submitOrders(
      system.apiUrl,
      HOT.map((productId, i) => ({ productId, userId: `early-${i}`, quantity: 1 })),
      5,
    );
    await waitUntilDecided(
      system.apiUrl,
      warmUp.map((o) => o.orderId!),
      10_000,
    );

    // A failed order: its product's lock is held by a process that never lets go, so both
    // attempts time out waiting and the order ends rejected / processing_failed.
    await redis.set(keys.lock(STUCK), 'gone-host:1:0123456789abcdef', 'PX', 60_000);
    const [stuck] = await submitOrders(system.apiUrl, [{ productId: STUCK, userId: 'buyer-stuck', quantity: 1 }], 1);
    failedOrderId = stuck!.orderId!;
    const [failed] = [...(await waitUntilDecided(system.apiUrl, [failedOrderId], 20_000)).values()];
    assert.equal(failed?.reason, 'processing_failed', 'the set-up could not fail an order');
    assert.equal(await (await queue.getJob(failedOrderId))!.getState(), 'failed');
    await redis.del(keys.lock(STUCK));
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close();
    assert.equal(await dashboard?.stop(), 0, 'the dashboard did not stop cleanly with panels open');
    await queue?.close();
    redis?.disconnect();
    await system?.stop();
  });

  it('answers 401 to a browser without credentials', { timeout: 60_000 }, async () => {
    const page = await open();
    // Every page and API answers 401 without credentials. (Asked through the page's request context:
    // a fetch from a script would make headless Chromium wait forever on a login prompt it cannot show.)
    for (const path of ['/admin/queues', '/admin/queues/api/queues', '/sale', '/sale/events', '/admin/audit']) {
      const res = await page.request.get(`${base}${path}`, { timeout: 10_000 });
      assert.equal(res.status(), 401, path);
      assert.match(res.headers()['www-authenticate'] ?? '', /^Basic /, path);
    }
    // ...and Chromium, given a 401 challenge it has no credentials for, refuses to show the page.
    for (const path of ['/admin/queues', '/sale'])
      await assert.rejects(page.goto(`${base}${path}`, { timeout: 10_000 }), /ERR_INVALID_AUTH_CREDENTIALS/);
  });

  it('shows the viewer the orders queue with real jobs, buyer ids redacted', { timeout: 60_000 }, async () => {
    const page = await open(VIEWER);
    await page.goto(`${base}/admin/queues/queue/${ORDERS_QUEUE}?status=failed`);
    await page.getByText(failedOrderId).first().waitFor({ timeout: 15_000 });
    await page.getByRole('tab', { name: 'Data' }).first().click();
    await page
      .getByText(/user-[0-9a-f]{10}/)
      .first()
      .waitFor();
    assert.doesNotMatch(await page.content(), /buyer-stuck/, 'the viewer sees the raw user id');
    // The read-only board shows no job actions: only the Data/Error/... tabs are buttons in the card.
    assert.equal(await page.getByRole('button', { name: /retry/i }).count(), 0);
    await page.goto(`${base}/admin/queues/queue/${ORDERS_QUEUE}?status=completed`);
    await page
      .getByText(/^hot-\d\./)
      .first()
      .waitFor({ timeout: 15_000 });
  });

  it("refuses a viewer's retry on the server (403) and leaves the job failed", { timeout: 60_000 }, async () => {
    const page = await open(VIEWER);
    await page.goto(`${base}/admin/queues`);
    const path = `/admin/queues/api/queues/${ORDERS_QUEUE}/${failedOrderId}/retry`;
    const reply = await page.evaluate<{ status: number; body: { error: { code: string } } }>(
      `fetch('${path}', { method: 'PUT' }).then(async (res) => ({ status: res.status, body: await res.json() }))`,
    );
    assert.equal(reply.status, 403);
    assert.equal(reply.body.error.code, 'forbidden');
    assert.equal(await (await queue.getJob(failedOrderId))!.getState(), 'failed');
  });

  it(
    'lets the admin retry the failed order, which is decided once however often it is retried',
    { timeout: 60_000 },
    async () => {
      const page = await open(ADMIN);
      await page.goto(`${base}/admin/queues/queue/${ORDERS_QUEUE}?status=failed`);
      await page.getByText(failedOrderId).first().waitFor({ timeout: 15_000 });
      if (screenshots) await page.screenshot({ path: `${repoRoot}docs/dashboard-board.png` });
      // Bull Board's job actions are unlabelled icon buttons: the job card's retry is the one with the
      // refresh icon inside the card that shows the job id (the page's other one is "Retry all").
      const card = page
        .getByText(failedOrderId)
        .first()
        .locator('xpath=ancestor::*[.//button//*[contains(@class, "lucide-refresh-cw")]][1]');
      const retry = card.locator('button:has(svg.lucide-refresh-cw)');
      assert.equal(await retry.count(), 1, 'expected one retry button on the failed job');
      await retry.click();
      const confirm = page.getByRole('button', { name: /^(confirm|retry)$/i }).last();
      if (await confirm.isVisible().catch(() => false)) await confirm.click();
      const retried = true;
      assert.ok(retried, 'no Retry action on the failed job');

      // The order was already decided (rejected / processing_failed): wait for the retry to change it.
      let order: { status?: string } | undefined;
      for (const deadline = Date.now() + 15_000; Date.now() < deadline; await sleep(100)) {
        order = (await requestJson(`${system.apiUrl}/orders/${failedOrderId}`)).body;
        if (order?.status === 'confirmed') break;
      }
      assert.equal(order?.status, 'confirmed', `after the retry: ${JSON.stringify(order)}`);
      // The same retry again, twice at once, on the now completed job: the order is reopened only
      // if rejected, and the commit returns its stored decision: never a second decrement.
      const auth = { authorization: `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}` };
      const again = await Promise.all(
        [1, 2].map(() =>
          requestJson(`${base}/admin/queues/api/queues/${ORDERS_QUEUE}/${failedOrderId}/retry`, {
            method: 'PUT',
            headers: auth,
          }),
        ),
      );
      assert.ok(
        again.some((reply) => reply.status === 204),
        `retries: ${again.map((r) => r.status).join(', ')}`,
      );
      for (let i = 0; i < 50 && (await (await queue.getJob(failedOrderId))!.getState()) !== 'completed'; i++)
        await sleep(100);
      await sleep(300);
      assert.deepEqual(await getProduct(redis, keys, STUCK), {
        productId: STUCK,
        stock: 9,
        sold: 1,
        perUserLimit: null,
        opensAt: null,
        closesAt: null,
        holdSeconds: null,
        reserved: 0,
      });
      assert.equal((await requestJson(`${system.apiUrl}/orders/${failedOrderId}`)).body.status, 'confirmed');

      const audit = await page.evaluate<{ entries: { action: string; jobId?: string; user: string }[] }>(
        "fetch('/admin/audit?limit=10').then((res) => res.json())",
      );
      const retries = audit.entries.filter(
        (entry: { action: string; jobId?: string; user: string }) =>
          entry.action === 'retry' && entry.jobId === failedOrderId && entry.user === ADMIN.user,
      );
      assert.ok(retries.length >= 2, `audit: ${JSON.stringify(audit.entries)}`);
    },
  );

  it(
    'shows a burst live on the sale panel: stock falls, counts rise, no reload, under a second stale',
    { timeout: 120_000 },
    async (t) => {
      const page = await open(VIEWER);
      await page.goto(`${base}/sale`);
      await page.evaluate('window.__noReload = true');
      await until(page, 'window.__salePanel.received > 0');
      assert.equal(await page.locator('#rows tr').count(), 50, 'the panel shows the top 50, not 1,000 rows');
      assert.match((await page.locator('#showing').textContent()) ?? '', /of 1,000 matching · 1,000 products/);

      const orders = Array.from({ length: BURST }, (_, i) => ({
        productId: HOT[i % HOT.length]!,
        userId: `burst-${i}`,
        quantity: 1,
      }));
      const burstStarted = Date.now();
      const burst = submitOrders(system.apiUrl, orders, 64);
      const seen: { stock: number; confirmed: number; queued: number }[] = [];
      const watched = HOT[0]!;
      let screenshotTaken = !screenshots;
      let done = false;
      void burst.then(() => (done = true));
      while (!done || seen.length === 0 || seen.at(-1)!.queued > 0 || seen.at(-1)!.stock > 0) {
        const row = page.locator(`#rows tr[data-product="${watched}"]`);
        if ((await row.count()) === 1) {
          const read = async (field: string) =>
            Number(((await row.locator(`td[data-field="${field}"]`).textContent()) ?? '').replaceAll(',', ''));
          seen.push({ stock: await read('stock'), confirmed: await read('confirmed'), queued: await read('queued') });
          if (!screenshotTaken && seen.at(-1)!.confirmed > 200) {
            await page.screenshot({ path: `${repoRoot}docs/dashboard-panel.png`, fullPage: true });
            screenshotTaken = true;
          }
        }
        if (Date.now() - burstStarted > 90_000) break;
        await sleep(250);
      }
      const burstMs = Date.now() - burstStarted;
      const submitted = await burst;
      assert.equal(
        submitted.filter((o) => o.status === 202).length + submitted.filter((o) => o.code === 'sold_out').length,
        BURST,
      );

      const stocks = seen.map((s) => s.stock);
      const confirmed = seen.map((s) => s.confirmed);
      const falls = stocks.filter((stock, i) => i > 0 && stock < stocks[i - 1]!).length;
      const rises = confirmed.filter((count, i) => i > 0 && count > confirmed[i - 1]!).length;
      assert.ok(
        stocks.every((stock, i) => i === 0 || stock <= stocks[i - 1]!),
        `stock went up: ${stocks.join(', ')}`,
      );
      assert.ok(falls >= 3, `stock fell ${falls} times on screen: ${stocks.join(', ')}`);
      assert.ok(rises >= 3, `confirmed rose ${rises} times on screen: ${confirmed.join(', ')}`);
      assert.equal(stocks.at(-1), 0);
      assert.equal(confirmed.at(-1), HOT_STOCK, 'every unit sold shows as confirmed');
      assert.equal(await page.evaluate('window.__noReload'), true, 'the page reloaded');
      assert.equal(await page.evaluate("performance.getEntriesByType('navigation').length"), 1);

      const log = await page.evaluate<{ at: number; receivedAt: number }[]>('window.__salePanel.log');
      const during = log.filter(
        (entry) => entry.receivedAt >= burstStarted && entry.receivedAt <= burstStarted + burstMs,
      );
      const delivery = during.map((entry) => entry.receivedAt - entry.at);
      // Just before each update, the screen shows the previous snapshot: its age then is the worst.
      const worstAge = during.slice(1).map((entry, i) => entry.receivedAt - during[i]!.at);
      const gaps = during.slice(1).map((entry, i) => entry.receivedAt - during[i]!.receivedAt);
      const stats = (values: number[]) => ({
        p50: quantile(values, 0.5),
        p99: quantile(values, 0.99),
        max: Math.max(...values),
      });
      const figures = {
        burstOrders: BURST,
        burstMs,
        snapshots: during.length,
        readToScreenMs: stats(delivery),
        updateGapMs: stats(gaps),
        worstAgeOnScreenMs: stats(worstAge),
      };
      t.diagnostic(`sale panel staleness during the burst: ${JSON.stringify(figures)}`);
      console.log(JSON.stringify({ salePanelStaleness: figures }));
      assert.ok(during.length >= 5, 'too few snapshots during the burst');
      assert.ok(Math.max(...worstAge) < 1000, `the panel was over a second stale: ${JSON.stringify(figures)}`);

      // Workers and the 1,000 products stay usable: the search narrows the table at once.
      assert.equal(await page.locator('[data-total="workers"]').textContent(), '2');
      await page.locator('#search').fill('hot-3');
      await until(page, "document.querySelectorAll('#rows tr').length === 1");
      assert.equal(await page.locator('#rows tr').getAttribute('data-product'), 'hot-3');
    },
  );
});

/** Polls an expression in the page (waitForFunction would need 'unsafe-eval', which the panel's CSP refuses). */
async function until(page: Page, expression: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await page.evaluate(expression))) {
    if (Date.now() > deadline) throw new Error(`still false after ${timeoutMs} ms: ${expression}`);
    await sleep(50);
  }
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}
