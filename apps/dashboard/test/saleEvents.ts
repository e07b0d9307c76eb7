import assert from 'node:assert/strict';
import type { SaleView } from '../src/sale/saleView.ts';
import { VIEWER } from './fixture.ts';

export const basic = ({ user, password }: { user: string; password: string }) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** Reads `count` snapshots (or for `forMs`) from the panel's event stream, then hangs up. */
export async function readEvents(url: string, count: number, forMs?: number): Promise<SaleView[]> {
  const controller = new AbortController();
  const timer = forMs === undefined ? undefined : setTimeout(() => controller.abort(), forMs);
  const res = await fetch(url, { headers: { authorization: basic(VIEWER) }, signal: controller.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const views: SaleView[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of res.body!) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = event.split('\n').find((line) => line.startsWith('data: '));
        if (data) views.push(JSON.parse(data.slice(6)) as SaleView);
      }
      if (views.length >= count) break;
    }
  } catch (error) {
    if (!controller.signal.aborted) throw error;
  }
  clearTimeout(timer);
  controller.abort();
  return views;
}
