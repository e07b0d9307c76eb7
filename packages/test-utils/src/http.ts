import type { ApiBody } from './wire.ts';

/** Runs `task` over `items` with at most `concurrency` in flight; results keep the input order. */
export async function mapConcurrent<T, R>(
  items: readonly T[],
  concurrency: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!, index);
    }
  });
  await Promise.all(lanes);
  return results;
}

export interface JsonReply {
  status: number;
  /** The answer's JSON; undefined at run time when it had none, or none came (status 0). */
  body: ApiBody;
  headers: Headers;
}

const NO_BODY = undefined as unknown as ApiBody;

/** fetch with a JSON body and a timeout; a network failure or timeout is status 0 (outcome unknown). */
export async function requestJson(
  url: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<JsonReply> {
  try {
    const res = await fetch(url, {
      method: init.method ?? 'GET',
      headers: { ...(init.body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      signal: AbortSignal.timeout(init.timeoutMs ?? 10_000),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as ApiBody) : NO_BODY, headers: res.headers };
  } catch {
    return { status: 0, body: NO_BODY, headers: new Headers() };
  }
}
