import { z } from 'zod';

/** Product and user ids: safe inside Redis keys, URLs and logs. */
export const idSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1 to 64 characters of A-Z, a-z, 0-9, _ or -');

/** An order id as a path parameter (`<productId>.<random>`; productOfOrder tells whether it is one of ours). */
export const orderIdSchema = z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, 'is not an order id');

export function orderRequestSchema(maxQuantity: number) {
  return z.strictObject({
    productId: idSchema,
    userId: idSchema,
    quantity: z
      .number('must be an integer')
      .int('must be an integer')
      .min(1, 'must be at least 1')
      .max(maxQuantity, `must be at most ${maxQuantity}`),
  });
}
export type OrderRequest = z.output<ReturnType<typeof orderRequestSchema>>;

/**
 * The body of `POST /orders` when a buyer token names the buyer (BUYER_TOKEN_*): `userId` may be left
 * out, and when given the API checks it is the token's. Without tokens, `orderRequestSchema` (userId required).
 */
export function tokenOrderRequestSchema(maxQuantity: number) {
  return orderRequestSchema(maxQuantity).extend({ userId: idSchema.optional() });
}

/** A sale window's bound: ISO 8601 with a time zone (`2026-12-24T18:00:00Z`), as epoch milliseconds; null removes it. */
const saleTime = z.iso
  .datetime({ offset: true, error: 'must be an ISO 8601 date and time with a time zone, or null' })
  .transform((text) => Date.parse(text))
  .refine((ms) => ms > 0 && ms < 1e15, 'must be after 1970 and before the year 30000')
  .nullable()
  .optional();

export const productUpdateSchema = z
  .strictObject({
    stock: z
      .number('must be an integer')
      .int('must be an integer')
      .min(0, 'must be at least 0')
      .max(1e12, 'must be at most 1e12'),
    perUserLimit: z
      .number('must be an integer or null')
      .int('must be an integer or null')
      .min(1, 'must be at least 1')
      .max(1e12, 'must be at most 1e12')
      .nullable()
      .optional(),
    opensAt: saleTime,
    closesAt: saleTime,
    /** Seconds a won order's units are held for payment (`reserved`) before they return to stock; null: none. */
    holdSeconds: z
      .number('must be an integer or null')
      .int('must be an integer or null')
      .min(1, 'must be at least 1')
      .max(86_400, 'must be at most 86400 (a day)')
      .nullable()
      .optional(),
  })
  .refine((p) => !(typeof p.opensAt === 'number' && typeof p.closesAt === 'number' && p.opensAt >= p.closesAt), {
    path: ['closesAt'],
    message: 'must be after opensAt',
  });
export type ProductUpdate = z.output<typeof productUpdateSchema>;

/** `POST /products/:id/stock`: units to add (negative: to take away). */
export const stockDeltaSchema = z.strictObject({
  delta: z
    .number('must be an integer')
    .int('must be an integer')
    .min(-1e12, 'must be at least -1e12')
    .max(1e12, 'must be at most 1e12')
    .refine((delta) => delta !== 0, 'must not be 0'),
});

/** Printable ASCII without spaces, as in the IETF Idempotency-Key draft's common practice. */
export const idempotencyKeySchema = z
  .string()
  .regex(/^[\x21-\x7e]{1,255}$/, 'must be 1 to 255 printable ASCII characters');
