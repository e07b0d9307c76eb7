/** The closed set of failures Flashline reports; the compiler checks each has an HTTP status. */
export type ErrorCode =
  | 'invalid_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'unknown_product'
  | 'sold_out'
  | 'sale_not_open'
  | 'sale_closed'
  | 'limit_exceeded'
  | 'idempotency_key_reused'
  | 'insufficient_stock'
  | 'precondition_failed'
  | 'hold_expired'
  | 'order_cancelled'
  | 'already_confirmed'
  | 'not_reserved'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'rate_limited'
  | 'unavailable'
  | 'lock_unavailable'
  | 'lease_lost'
  | 'internal';

export const httpStatusByCode: Record<ErrorCode, number> = {
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  unknown_product: 404,
  sold_out: 409,
  sale_not_open: 409,
  sale_closed: 409,
  limit_exceeded: 409,
  idempotency_key_reused: 422,
  insufficient_stock: 409,
  precondition_failed: 412,
  hold_expired: 409,
  order_cancelled: 409,
  already_confirmed: 409,
  not_reserved: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  unavailable: 503,
  lock_unavailable: 503,
  lease_lost: 503,
  internal: 500,
};

export class AppError extends Error {
  override name = 'AppError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    // A client's mistake (4xx) is answered, never logged: its stack trace is not worth capturing,
    // and in a sold-out storm one per request would be captured tens of thousands of times a second.
    const stackTraceLimit = Error.stackTraceLimit;
    if (httpStatusByCode[code] < 500) Error.stackTraceLimit = 0;
    try {
      super(message, options);
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
  }

  get httpStatus(): number {
    return httpStatusByCode[this.code];
  }

  toJSON(): { error: { code: ErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

// ioredis reports an unreachable or stalled server with these messages (no error codes).
const connectionFailure =
  /Stream isn't writeable|Connection is closed|Command timed out|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|MaxRetriesPerRequest|LOADING|READONLY|MISCONF/;

// Redis's reply to a command that may add memory once used memory is past maxmemory (noeviction), and to
// a script at its first such command (a script is refused before it has written anything).
const full = /OOM command not allowed/;

/**
 * True when Redis refused a write because it is full (used memory past `maxmemory`, noeviction): it
 * still answers, reads included, and it wrote nothing of the refused command or script.
 */
export function isRedisFull(error: unknown): boolean {
  return error instanceof Error && full.test(error.message);
}

/** True when the error means "Redis is not answering (well)", full included, so callers answer 503, not 500. */
export function isRedisUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return connectionFailure.test(error.message) || isRedisFull(error) || error.name === 'MaxRetriesPerRequestError';
}

/** Operational errors become AppErrors; anything else is a programmer error (500). */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (isRedisFull(error))
    return new AppError('unavailable', 'the order store is full and refuses writes, retry later', {
      cause: error,
    });
  if (isRedisUnavailable(error))
    return new AppError('unavailable', 'the order store is unavailable, retry shortly', { cause: error });
  return new AppError('internal', 'internal error', { cause: error });
}
