import http from 'node:http';
import https from 'node:https';
import type { WebhookSettings } from '../config/webhooks.ts';
import { SIGNATURE_HEADER, signWebhook } from './signature.ts';

/** How one attempt ended. Only `delivered` (a 2xx) ends the delivery; the rest are retried. */
export type DeliveryOutcome =
  | { kind: 'delivered'; status: number }
  | { kind: 'refused'; status: number }
  | { kind: 'timeout' }
  | { kind: 'connection_error'; message: string };

export type DeliveryKind = DeliveryOutcome['kind'];

/** A response body is never kept: at most this much is read (and dropped) so the connection can be reused. */
const MAX_DRAINED_BYTES = 64 * 1024;

export interface Deliverer {
  /** POSTs one event body, signed at the moment it is sent. */
  deliver(body: string): Promise<DeliveryOutcome>;
  close(): void;
}

/**
 * The HTTP side of delivery. One keep-alive agent with at most `concurrency` sockets, so the process
 * never holds more connections to the receiver than it makes deliveries at once. Ends an attempt at
 * the response's status line: the body is drained (up to 64 KiB, else the socket is dropped) and never
 * buffered, so a receiver that answers slowly or with a huge body costs a socket until the timeout, not
 * memory. Redirects are not followed (node:http never does): a 3xx fails the attempt like any non-2xx.
 */
export function createDeliverer(
  settings: Pick<WebhookSettings, 'url' | 'secret' | 'timeoutMs' | 'concurrency'>,
): Deliverer {
  const url = new URL(settings.url);
  const client = url.protocol === 'https:' ? https : http;
  const agent = new client.Agent({
    keepAlive: true,
    maxSockets: settings.concurrency,
    maxFreeSockets: settings.concurrency,
  });
  return {
    deliver: (body) =>
      new Promise((resolve) => {
        let settled = false;
        const settle = (outcome: DeliveryOutcome) => {
          if (!settled) resolve(outcome);
          settled = true;
        };
        let timedOut = false;
        // One deadline for the whole exchange, connection to the last byte drained.
        const timer = setTimeout(() => {
          timedOut = true;
          request.destroy();
        }, settings.timeoutMs);
        const request = client.request(
          url,
          {
            method: 'POST',
            agent,
            headers: {
              'Content-Type': 'application/json',
              'Content-Length': Buffer.byteLength(body),
              'User-Agent': 'Flashline-Webhooks',
              [SIGNATURE_HEADER]: signWebhook(body, settings.secret),
            },
          },
          (response) => {
            const status = response.statusCode ?? 0;
            settle(status >= 200 && status < 300 ? { kind: 'delivered', status } : { kind: 'refused', status });
            let drained = 0;
            response.on('data', (chunk: Buffer) => {
              drained += chunk.length;
              if (drained > MAX_DRAINED_BYTES) response.destroy();
            });
            response.on('error', () => {});
            response.on('close', () => clearTimeout(timer));
          },
        );
        request.on('error', (error) => {
          clearTimeout(timer);
          settle(timedOut ? { kind: 'timeout' } : { kind: 'connection_error', message: error.message });
        });
        request.end(body);
      }),
    close: () => agent.destroy(),
  };
}

/** What a failed attempt says on the board and in the logs (the body of the answer is never shown). */
export function describeOutcome(outcome: DeliveryOutcome, timeoutMs: number): string {
  switch (outcome.kind) {
    case 'delivered':
      return `delivered (${outcome.status})`;
    case 'refused':
      return outcome.status >= 300 && outcome.status < 400
        ? `the receiver answered ${outcome.status} (redirects are not followed)`
        : `the receiver answered ${outcome.status}`;
    case 'timeout':
      return `no answer within ${timeoutMs} ms`;
    case 'connection_error':
      return `could not reach the receiver: ${outcome.message}`;
  }
}
