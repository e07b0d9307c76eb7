import type { Request } from 'express';
import type { z } from 'zod';
import { AppError } from '@flashline/core';

/** Parses with a zod schema; a failure is a 400 naming every bad field and why. */
export function parse<T extends z.ZodType>(schema: T, value: unknown, where: string): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.length > 0 ? `${where}.${issue.path.join('.')}` : where;
    return `${path}: ${issue.message}`;
  });
  throw new AppError('invalid_request', problems.join('; '));
}

/**
 * body-parser's `verify` hook: JSON bodies are UTF-8 (RFC 8259). body-parser alone also decodes
 * UTF-7, -16 and -32, where the same bytes can mean something else to whatever inspects them.
 * Thrown with body-parser's own error type, so the answer is 415 unsupported_media_type.
 */
export function requireUtf8(_req: unknown, _res: unknown, _body: Buffer, encoding: string): void {
  if (encoding !== 'utf-8')
    throw Object.assign(new Error(`charset ${encoding} is not utf-8`), { type: 'charset.unsupported' });
}

/** A JSON body is required: another content type is a 415, not a silently empty body. */
export function jsonBody(req: Request): unknown {
  if (!req.is('application/json')) {
    throw new AppError('unsupported_media_type', 'send the body as Content-Type: application/json');
  }
  return req.body;
}
