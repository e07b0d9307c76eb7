import type { Server } from 'node:http';
import express, { type ErrorRequestHandler } from 'express';
import { z } from 'zod';
import { freePort } from '@flashline/test-utils';

/** The same rules as Flashline's `POST /orders` (with its default MAX_QUANTITY of 10). */
const id = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);
const orderRequest = z.strictObject({ productId: id, userId: id, quantity: z.number().int().min(1).max(10) });
export type BaselineOrder = z.output<typeof orderRequest>;

export interface OrderServer {
  url: string;
  close(): Promise<void>;
}

/**
 * An Express server whose `POST /orders` validates the body as Flashline's does, hands it to
 * `accept` and answers 202: the HTTP floor under Flashline's API, without its Redis work (or with
 * only what `accept` does). 400 for a bad body, 413/415 as body-parser says, 503 when `accept` fails.
 */
export async function startOrderServer(accept: (order: BaselineOrder) => Promise<void>): Promise<OrderServer> {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '4kb' }));
  app.post('/orders', async (req, res) => {
    if (!req.is('application/json')) {
      res.status(415).json(wireError('unsupported_media_type', 'send the body as Content-Type: application/json'));
      return;
    }
    const parsed = orderRequest.safeParse(req.body);
    if (!parsed.success) {
      res
        .status(400)
        .json(
          wireError(
            'invalid_request',
            parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '),
          ),
        );
      return;
    }
    await accept(parsed.data);
    res.status(202).json({ status: 'queued' });
  });
  const onError: ErrorRequestHandler = (error: Error & { status?: number; type?: string }, _req, res, _next) => {
    // body-parser's errors carry a 4xx status; anything else is `accept` failing: Redis unreachable.
    const status = typeof error.status === 'number' && error.status < 500 ? error.status : 503;
    res
      .status(status)
      .json(wireError(status === 503 ? 'unavailable' : (error.type ?? 'invalid_request'), error.message));
  };
  app.use(onError);

  const port = await freePort();
  const server = await new Promise<Server>((resolve, reject) => {
    const listening = app.listen(port, '127.0.0.1', (error?: Error) => (error ? reject(error) : resolve(listening)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function wireError(code: string, message: string) {
  return { error: { code, message } };
}
