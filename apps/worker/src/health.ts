import type { IncomingMessage, ServerResponse } from 'node:http';
import { type WorkerReadiness, errorFields, type Logger } from '@flashline/core';

/**
 * A worker's only HTTP (WORKER_HEALTH_PORT): `GET /healthz` while the process lives, `GET /readyz` while
 * Redis takes writes and every partition with work has a live worker (else 503 naming the partitions).
 */
export function healthHandler(readiness: { check(): Promise<WorkerReadiness> }, log: Logger) {
  const reply = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return reply(res, 405, { error: { code: 'invalid_request', message: 'GET only' } });
    if (path === '/healthz') return reply(res, 200, { status: 'ok' });
    if (path !== '/readyz') return reply(res, 404, { error: { code: 'not_found', message: 'no such route' } });
    readiness.check().then(
      (now) =>
        now.ready
          ? reply(res, 200, { status: 'ready' })
          : reply(res, now.error.httpStatus, { ...now.error.toJSON(), unserved: now.unserved }),
      (error: unknown) => {
        log('warn', 'readiness check failed', errorFields(error));
        reply(res, 503, { error: { code: 'unavailable', message: 'readiness could not be checked' } });
      },
    );
  };
}
