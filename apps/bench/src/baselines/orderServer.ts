import { createServer, type Server, type ServerResponse } from 'node:http';
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

  return listening(createServer(app));
}

const BODY_LIMIT = 4096;

/**
 * The same `POST /orders` on Node's own HTTP server, no framework: the body read by hand (4 kB at
 * most), `JSON.parse`, the same zod schema, the same answers. The physical limit of one Node process
 * answering this request here: what any framework's routing, middleware and body parsing add is above it.
 */
export async function startNodeOrderServer(accept: (order: BaselineOrder) => Promise<void>): Promise<OrderServer> {
  const send = (res: ServerResponse, status: number, value: unknown) => {
    const body = JSON.stringify(value);
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(body);
  };
  const answer = async (res: ServerResponse, raw: string) => {
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      return send(res, 400, wireError('invalid_request', 'request body is not valid JSON'));
    }
    const parsed = orderRequest.safeParse(body);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
      return send(res, 400, wireError('invalid_request', problems));
    }
    try {
      await accept(parsed.data);
    } catch (error) {
      return send(res, 503, wireError('unavailable', (error as Error).message));
    }
    send(res, 202, { status: 'queued' });
  };
  return listening(
    createServer((req, res) => {
      if (req.method !== 'POST' || req.url !== '/orders') return send(res, 404, wireError('not_found', 'no route'));
      if (!/^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '')) {
        req.resume();
        return send(res, 415, wireError('unsupported_media_type', 'send the body as Content-Type: application/json'));
      }
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= BODY_LIMIT) chunks.push(chunk);
      });
      req.on('end', () => {
        if (size > BODY_LIMIT)
          return send(res, 413, wireError('payload_too_large', 'request body is larger than 4 kB'));
        void answer(res, Buffer.concat(chunks).toString('utf8'));
      });
    }),
  );
}

async function listening(server: Server): Promise<OrderServer> {
  const port = await freePort();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
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
