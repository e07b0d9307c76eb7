import { Router } from 'express';
import { AppError } from '@flashline/core';
import type { ApiDeps } from '../deps.ts';

export function healthRoutes({ redis }: ApiDeps): Router {
  const router = Router();
  // Liveness: the process answers. Never touches Redis, so an orchestrator does not restart
  // every API process because Redis blinked.
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // Readiness: Redis answers, so orders can be accepted.
  router.get('/readyz', async (_req, res) => {
    try {
      await redis.ping();
    } catch (error) {
      throw new AppError('unavailable', 'Redis does not answer', { cause: error });
    }
    res.json({ status: 'ready' });
  });
  return router;
}
