import { Registry, collectDefaultMetrics } from 'prom-client';

/** What prom-client's `getMetricsAsJSON` gives: the form a worker publishes and the dashboard merges. */
export type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/**
 * A registry of one process, never prom-client's global one: every app (and every test) owns its
 * metrics, so nothing leaks between two apps made in one process. It carries prom-client's default
 * process metrics (`process_*`, `nodejs_*`: CPU, memory, event-loop lag, GC), under their usual names.
 */
export function createRegistry(labels: Record<string, string> = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** Resolves `work`, or rejects after `ms`: a scrape must answer even while Redis does not. */
export async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
