import { fileURLToPath } from 'node:url';
import express, { Router } from 'express';
import { AppError, type Config, type Logger } from '@flashline/core';
import { principalOf } from '../auth/principal.ts';
import type { SaleFeed } from './saleFeed.ts';
import { parseViewQuery, viewOf } from './saleView.ts';

const panelDir = fileURLToPath(new URL('../panel/', import.meta.url));

// The page builds its DOM with textContent only and loads nothing from elsewhere; the policy
// makes sure it stays so.
const pageHeaders = {
  'Content-Security-Policy': "default-src 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

export type StreamLimits = Config['salePanelStreams'];

/**
 * The live sale panel: GET / is the page (static HTML, CSS and JS, no build step), GET /events a
 * server-sent-events stream of views cut from the shared feed's snapshots. An operator holds at
 * most `limits.perUser` streams at once (429 past it: each costs a socket and a view a tick), and
 * a stream whose client stops reading is dropped once `limits.maxBufferBytes` wait unsent, so a
 * stuck or hostile client cannot grow the dashboard's memory; the page's EventSource reconnects.
 */
export function saleRoutes(feed: SaleFeed, limits: StreamLimits, log: Logger): Router {
  const router = Router();
  // Streams per user name: at most the two configured users are ever keys here.
  const open = new Map<string, number>();
  router.get('/', (_req, res) => {
    res.set(pageHeaders).sendFile('sale.html', { root: panelDir });
  });
  router.use('/assets', express.static(panelDir, { index: false, setHeaders: (res) => res.set(pageHeaders) }));
  router.get('/events', (req, res) => {
    const query = parseViewQuery(req.query);
    const { user } = principalOf(res);
    const held = open.get(user) ?? 0;
    if (held >= limits.perUser)
      throw new AppError(
        'rate_limited',
        `at most ${limits.perUser} sale-panel streams per user at once (SALE_PANEL_STREAMS_PER_USER): close another panel`,
      );
    open.set(user, held + 1);
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      // A buffering proxy (nginx) would hold the events back and make the panel stale.
      'X-Accel-Buffering': 'no',
    });
    const send = (text: string) => {
      if (res.destroyed) return;
      res.write(text);
      if (res.writableLength > limits.maxBufferBytes) {
        log('warn', 'sale panel stream dropped: its client does not read', { user, waiting: res.writableLength });
        res.destroy();
      }
    };
    send('retry: 1000\n\n');
    const unsubscribe = feed.subscribe(
      (event) => {
        if ('error' in event) send(`event: unavailable\ndata: ${JSON.stringify(event)}\n\n`);
        else send(`data: ${JSON.stringify(viewOf(event.snapshot, query))}\n\n`);
      },
      () => res.end(),
    );
    res.on('close', () => {
      unsubscribe();
      const left = (open.get(user) ?? 1) - 1;
      if (left > 0) open.set(user, left);
      else open.delete(user);
    });
  });
  return router;
}
