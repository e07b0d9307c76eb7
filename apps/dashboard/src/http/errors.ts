import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, errorFields, toAppError, type Logger } from '@flashline/core';

/** The one place an error becomes a response: `{ "error": { "code", "message" } }`. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    const appError = toAppError(error);
    if (appError.httpStatus >= 500)
      log('error', 'dashboard request failed', {
        method: req.method,
        path: req.path,
        code: appError.code,
        ...errorFields(appError.cause ?? appError),
      });
    if (res.headersSent) {
      res.end();
      return;
    }
    res.status(appError.httpStatus).json(appError.toJSON());
  };
}

export const notFound: RequestHandler = (req, _res, next) => {
  next(new AppError('not_found', `no route for ${req.method} ${req.path}`));
};
