import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { AppError, errorFields, toAppError, type Logger } from '@flashline/core';

// body-parser's error types, mapped to our codes (the parser decided; nothing reached Redis).
const bodyParserErrors: Record<string, AppError> = {
  'entity.too.large': new AppError('payload_too_large', 'request body is larger than 4 kB'),
  'entity.parse.failed': new AppError('invalid_request', 'request body is not valid JSON'),
  'encoding.unsupported': new AppError('unsupported_media_type', 'request body encoding is not supported'),
  'charset.unsupported': new AppError('unsupported_media_type', 'request body charset must be utf-8'),
  'entity.verify.failed': new AppError('invalid_request', 'request body was refused'),
  'request.aborted': new AppError('invalid_request', 'request body was not received whole'),
};

function clientError(error: unknown): AppError | undefined {
  const { type, status } = (error ?? {}) as { type?: unknown; status?: unknown };
  const known = typeof type === 'string' ? bodyParserErrors[type] : undefined;
  if (known) return known;
  // Other client errors (a 4xx `status`) Express and body-parser raise: a corrupt gzip/deflate/br
  // body, a path parameter that is not valid percent-encoding. The client's fault, not a 500.
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new AppError('invalid_request', 'the request could not be read: malformed body, encoding or URL');
  }
  return undefined;
}

/** The one place an error becomes a response: `{ "error": { "code", "message" } }`. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    const appError = clientError(error) ?? toAppError(error);
    if (appError.httpStatus >= 500) {
      log(appError.code === 'internal' ? 'error' : 'warn', 'request failed', {
        method: req.method,
        path: req.path,
        code: appError.code,
        ...errorFields(appError.cause ?? appError),
      });
    }
    sendError(res, appError);
  };
}

/** Writes an error answer. Also called directly on the sold-out storm path, which throws nothing. */
export function sendError(res: Response, appError: AppError): void {
  res.locals.errorCode = appError.code; // for the metrics (http/metrics.ts)
  if (appError.code === 'unavailable') res.set('Retry-After', '1');
  sendJson(res, appError.httpStatus, appError.toJSON());
}

/**
 * What res.json sends (this app sets no JSON replacer or spacing, and no ETag), without its content-type
 * lookup and freshness checks: for answers that are never fresh nor cached (errors, a 202), on the
 * paths that answer tens of thousands a second. Node drops the body of a HEAD.
 */
export function sendJson(res: Response, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

export const notFound: RequestHandler = (req, _res, next) => {
  next(new AppError('not_found', `no route for ${req.method} ${req.path}`));
};
