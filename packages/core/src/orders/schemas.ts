import { z } from 'zod';

/** Product and user ids: safe inside Redis keys, URLs and logs. */
export const idSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1 to 64 characters of A-Z, a-z, 0-9, _ or -');

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

export const productUpdateSchema = z.strictObject({
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
