import { setTimeout as sleep } from 'node:timers/promises';
import type { Order } from '@flashline/core';
import { mapConcurrent, requestJson } from './http.ts';
import { SYSTEM_ADMIN_TOKEN } from './system.ts';

export interface OrderSpec {
  productId: string;
  userId: string;
  quantity: number;
}

export interface Submitted extends OrderSpec {
  /** HTTP status; 0 when the outcome is unknown (network error or timeout). */
  status: number;
  orderId?: string;
  code?: string;
  acceptedAt: number;
  latencyMs: number;
}

/** Fires every order at `POST /orders`, `concurrency` at a time, recording each outcome. */
export async function submitOrders(apiUrl: string, orders: OrderSpec[], concurrency: number): Promise<Submitted[]> {
  return mapConcurrent(orders, concurrency, async (order) => {
    const started = performance.now();
    const reply = await requestJson(`${apiUrl}/orders`, { method: 'POST', body: order });
    const latencyMs = performance.now() - started;
    return {
      ...order,
      status: reply.status,
      ...(reply.status === 202 ? { orderId: reply.body.orderId } : {}),
      ...(reply.body?.error?.code ? { code: reply.body.error.code } : {}),
      acceptedAt: Date.now(),
      latencyMs,
    };
  });
}

/** An order as GET /orders/:id shows it (to the admin). */
export type OrderView = Order;

/**
 * Reads every order through `GET /orders/:id` until none is queued or `timeoutMs` passes.
 * Returns the last view of each (undefined when it could not be read). Read as the admin, the
 * only caller shown an order's userId when there are no buyer tokens (the checks compare buyers):
 * `adminToken` is the system's ADMIN_TOKEN.
 */
export async function waitUntilDecided(
  apiUrl: string,
  orderIds: string[],
  timeoutMs: number,
  adminToken = SYSTEM_ADMIN_TOKEN,
): Promise<Map<string, OrderView | undefined>> {
  const asAdmin = { headers: { authorization: `Bearer ${adminToken}` } };
  const views = new Map<string, OrderView | undefined>();
  let pending = orderIds;
  const deadline = Date.now() + timeoutMs;
  while (pending.length > 0) {
    const replies = await mapConcurrent(pending, 32, (id) => requestJson(`${apiUrl}/orders/${id}`, asAdmin));
    replies.forEach((reply, i) => views.set(pending[i]!, reply.status === 200 ? (reply.body as OrderView) : undefined));
    pending = pending.filter((id) => views.get(id)?.status !== 'confirmed' && views.get(id)?.status !== 'rejected');
    if (pending.length === 0 || Date.now() > deadline) break;
    await sleep(200);
  }
  return views;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
