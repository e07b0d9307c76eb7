import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { freePort } from '@flashline/test-utils';
import { createDeliverer, verifyWebhookSignature, type Deliverer } from '../src/index.ts';

const SECRET = 'whsec-0123456789abcdef';

/** A real receiver on a free port; `handle` answers each request, and every request is recorded. */
async function receiver(handle: (req: IncomingMessage, res: ServerResponse, body: string) => void) {
  const seen: { headers: IncomingMessage['headers']; body: string }[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      seen.push({ headers: req.headers, body });
      handle(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  return {
    url,
    seen,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('webhook delivery over HTTP', () => {
  const closing: (() => unknown)[] = [];
  after(async () => {
    for (const close of closing) await close();
  });
  const deliverTo = (url: string, timeoutMs = 1000): Deliverer => {
    const deliverer = createDeliverer({ url, secret: SECRET, timeoutMs, concurrency: 4 });
    closing.push(() => deliverer.close());
    return deliverer;
  };
  const started = async (handle: Parameters<typeof receiver>[0]) => {
    const r = await receiver(handle);
    closing.push(r.close);
    return r;
  };

  it('POSTs the body as JSON, signed at the attempt; a 2xx delivers, other statuses are refused', async () => {
    const statuses = [204, 500, 404, 429];
    const r = await started((_req, res) => {
      res.statusCode = statuses.shift() ?? 200;
      res.end('ok');
    });
    const deliverer = deliverTo(r.url);
    const body = '{"id":"p.x.1","type":"order.confirmed"}';
    assert.deepEqual(await deliverer.deliver(body), { kind: 'delivered', status: 204 });
    assert.deepEqual(await deliverer.deliver(body), { kind: 'refused', status: 500 });
    assert.deepEqual(await deliverer.deliver(body), { kind: 'refused', status: 404 });
    assert.deepEqual(await deliverer.deliver(body), { kind: 'refused', status: 429 });
    const [first] = r.seen;
    assert.equal(first?.body, body);
    assert.equal(first?.headers['content-type'], 'application/json');
    const header = String(first?.headers['flashline-signature']);
    assert.ok(verifyWebhookSignature(header, first?.body ?? '', SECRET), 'the signature does not verify');
    const t = Number(/t=(\d+)/.exec(header)?.[1]);
    assert.ok(Math.abs(t - Date.now() / 1000) < 5, 't is not the time of the attempt');
  });

  it('never follows a redirect, to another host or its own', async () => {
    const elsewhere = await started((_req, res) => res.end('should never be asked'));
    const r = await started((req, res) => {
      res.statusCode = req.url === '/hooks' ? 307 : 200;
      res.setHeader('Location', req.url === '/hooks' ? elsewhere.url : '/moved');
      res.end();
    });
    assert.deepEqual(await deliverTo(r.url).deliver('{}'), { kind: 'refused', status: 307 });
    assert.equal(elsewhere.seen.length, 0, 'the redirect was followed');
    assert.equal(r.seen.length, 1);
  });

  it('fails an attempt at the timeout when the receiver does not answer, and on a refused connection', async () => {
    const r = await started(() => {
      // never answers
    });
    const begun = Date.now();
    assert.deepEqual(await deliverTo(r.url, 300).deliver('{}'), { kind: 'timeout' });
    assert.ok(Date.now() - begun < 1500, 'the timeout did not cut the attempt');
    const port = await freePort();
    const refused = await deliverTo(`http://127.0.0.1:${port}/hooks`).deliver('{}');
    assert.equal(refused.kind, 'connection_error');
  });

  it('does not buffer a huge or endless response body: the attempt ends at the status line', async () => {
    let written = 0;
    const r = await started((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024, 120);
      // An endless body: writes as fast as the client reads, until the client hangs up.
      const pump = () => {
        for (let more = true; more && !res.destroyed; written += chunk.length) more = res.write(chunk);
        if (!res.destroyed) res.once('drain', pump);
      };
      res.on('close', () => res.removeAllListeners('drain'));
      pump();
    });
    const deliverer = deliverTo(r.url, 2000);
    const heapBefore = process.memoryUsage().heapUsed;
    const outcomes = await Promise.all(Array.from({ length: 4 }, () => deliverer.deliver('{}')));
    assert.deepEqual(
      outcomes,
      outcomes.map(() => ({ kind: 'delivered', status: 200 })),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    // The client dropped each connection after 64 KiB read: the server could not push much more than
    // the sockets' buffers hold (a few MiB), where reading the bodies would have taken all it sent.
    assert.ok(written < 64 * 1024 * 1024, `the server wrote ${written} bytes: the body was read on`);
    assert.ok(process.memoryUsage().heapUsed - heapBefore < 32 * 1024 * 1024, 'the heap grew with the bodies');
  });
});
