import { Router } from 'express';
import { createReadiness } from '@flashline/core';
import type { ApiDeps } from '../deps.ts';

export function healthRoutes(deps: ApiDeps): Router {
  const router = Router();
  const readiness = createReadiness(deps);
  // Liveness: the process answers. Never touches Redis, so an orchestrator does not restart
  // every API process because Redis blinked.
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // Readiness: orders can be accepted, so Redis answers and takes writes (a full Redis answers PING).
  router.get('/readyz', async (_req, res) => {
    const now = await readiness.check();
    if (!now.ready) throw now.error;
    res.json({ status: 'ready' });
  });
  return router;
}
