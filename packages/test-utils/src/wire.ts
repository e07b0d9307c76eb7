/**
 * What tests read of Flashline's JSON answers, as one type: the fields of an order, a product, an
 * error and the health checks. Each answer holds some of them: a field it lacks is undefined at run
 * time, and a test asserts which it expects. (supertest and `JSON.parse` give `any`; this keeps the
 * tests' reads typed.)
 */
export interface ApiBody {
  orderId: string;
  productId: string;
  userId: string;
  quantity: number;
  status: string;
  reason?: string;
  createdAt: string;
  decidedAt?: string;
  holdExpiresAt?: string;
  confirmedAt?: string;
  cancelledAt?: string;
  expiredAt?: string;
  stock: number;
  reserved: number;
  sold: number;
  perUserLimit: number | null;
  opensAt: string | null;
  closesAt: string | null;
  holdSeconds: number | null;
  error: { code: string; message: string };
}

/** A reply's JSON body (supertest's, or requestJson's) as an ApiBody. */
export const bodyOf = (reply: { body: unknown }): ApiBody => reply.body as ApiBody;
