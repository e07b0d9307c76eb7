import type { RequestHandler } from 'express';

/**
 * On every dashboard response: no page of it may be framed by another (clickjacking a retry or a
 * clean through a transparent frame), and no response says what serves it. A route may send a
 * stricter policy of its own (the sale panel's), which keeps frame-ancestors 'none'.
 */
export const securityHeaders: RequestHandler = (_req, res, next) => {
  res.set({
    'X-Frame-Options': 'DENY',
    'Content-Security-Policy': "frame-ancestors 'none'",
    'X-Content-Type-Options': 'nosniff',
  });
  next();
};
