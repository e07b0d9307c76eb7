import { fileURLToPath } from 'node:url';
import express, { Router } from 'express';
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

/**
 * The live sale panel: GET / is the page (static HTML, CSS and JS, no build step), GET /events a
 * server-sent-events stream of views cut from the shared feed's snapshots.
 */
export function saleRoutes(feed: SaleFeed): Router {
  const router = Router();
  router.get('/', (_req, res) => {
    res.set(pageHeaders).sendFile('sale.html', { root: panelDir });
  });
  router.use('/assets', express.static(panelDir, { index: false, setHeaders: (res) => res.set(pageHeaders) }));
  router.get('/events', (req, res) => {
    const query = parseViewQuery(req.query);
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      // A buffering proxy (nginx) would hold the events back and make the panel stale.
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 1000\n\n');
    const unsubscribe = feed.subscribe(
      (event) => {
        if ('error' in event) res.write(`event: unavailable\ndata: ${JSON.stringify(event)}\n\n`);
        else res.write(`data: ${JSON.stringify(viewOf(event.snapshot, query))}\n\n`);
      },
      () => res.end(),
    );
    req.on('close', unsubscribe);
  });
  return router;
}
