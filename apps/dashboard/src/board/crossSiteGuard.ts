import type { RequestHandler } from 'express';
import { AppError } from '@flashline/core';

const reads = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Browsers replay cached basic-auth credentials on a cross-site request, so a page elsewhere can
 * make an operator's browser send one. What it cannot send without a CORS preflight (which this
 * server never grants) is a PUT, PATCH or DELETE, or a JSON body: Bull Board's mutations need one
 * of those. This guard makes that rule the dashboard's own rather than Bull Board's: a mutating
 * request with a body that is not JSON (a form's or text/plain) is refused, 415, and so is one the
 * browser marks as coming from another site, 403.
 */
export const refuseCrossSiteChanges: RequestHandler = (req, _res, next) => {
  if (reads.has(req.method)) return next();
  if (req.get('sec-fetch-site') === 'cross-site')
    return next(new AppError('forbidden', 'a change to the board must come from the dashboard itself'));
  // Bull Board's PUTs send no body (or an empty one, Content-Length: 0).
  const hasBody = req.get('transfer-encoding') !== undefined || Number(req.get('content-length') ?? 0) > 0;
  if (hasBody && !req.is('application/json'))
    return next(new AppError('unsupported_media_type', 'a change to the board takes a JSON body or none'));
  next();
};
