import type { RequestHandler } from 'express';
import { pinoHttp } from 'pino-http';
import type { Logger } from '@flashline/core';

/**
 * One debug line per request, written when its answer is sent (or the client gave up):
 * its id, method, URL, status and time taken. pino-http's default request object would carry every header,
 * the admin's bearer token included, so the line names only what a debugging reader needs.
 */
export function requestLog(logger: NonNullable<Logger['pino']>): RequestHandler {
  return pinoHttp({
    logger,
    useLevel: 'debug',
    serializers: {
      req: (req: { id: unknown; method: string; url: string }) => ({ id: req.id, method: req.method, url: req.url }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  });
}
