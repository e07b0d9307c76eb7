import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import helmet from 'helmet';

/**
 * helmet's security headers on every answer, worked out once. helmet's defaults are the same for every
 * request (no nonce, nothing read from it), but helmet re-runs its dozen middlewares on each one: in a
 * sold-out storm that chain cost about 5% of the API's CPU. So helmet runs once here, on a stand-in
 * answer that records what it sets, and each request gets the recorded headers in one loop.
 * Should a later helmet read the request or the answer, the stand-in throws and the API does not start.
 */
export function securityHeaders(): RequestHandler {
  const headers = new Map<string, string>();
  const standIn = {
    setHeader(name: string, value: unknown) {
      headers.set(name, String(value));
      return standIn;
    },
    removeHeader(name: string) {
      headers.delete(name);
    },
  };
  let ran = false;
  helmet()({} as IncomingMessage, standIn as unknown as ServerResponse, (error?: unknown) => {
    if (error !== undefined) throw new Error('helmet failed on the stand-in answer', { cause: error });
    ran = true;
  });
  if (!ran || headers.size === 0) throw new Error('helmet did not set its headers synchronously');
  const recorded = [...headers];
  return (_req, res, next) => {
    for (const [name, value] of recorded) res.setHeader(name, value);
    next();
  };
}
