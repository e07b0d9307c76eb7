import cluster from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { Exposition } from './endpoint.ts';
import { withTimeout } from './registry.ts';

const ASK = 'flashline:pool-metrics?';
const ANSWER = 'flashline:pool-metrics';

interface Ask {
  type: typeof ASK;
  id: number;
}
interface Answer {
  type: typeof ANSWER;
  id: number;
  text?: string;
  error?: string;
}

const isMessage = <T extends { type: string }>(message: unknown, type: T['type']): message is T =>
  typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type;

/**
 * In a pool's primary: answers a process that asks for the pool's metrics with every process's registry
 * summed (prom-client's AggregatorRegistry asks each one over the cluster's channel): requests, outcomes
 * and durations of the whole pool, so Prometheus scrapes one target per machine, whichever process the
 * scrape reaches. Counters of a process that was replaced start again from 0, which rate() reads as a reset.
 */
export function servePoolMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: unknown) => {
    if (!isMessage<Ask>(message, ASK)) return;
    const reply = (answer: Omit<Answer, 'type' | 'id'>) => {
      if (worker.isConnected()) worker.send({ type: ANSWER, id: message.id, ...answer } satisfies Answer);
    };
    aggregator.clusterMetrics().then(
      (text) => reply({ text }),
      (error: unknown) => reply({ error: error instanceof Error ? error.message : String(error) }),
    );
  });
}

/**
 * In a pool's process: `registry` is what the primary sums, and the exposition of GET /metrics is the
 * pool's sum, asked of the primary (within `timeoutMs`: a scrape must answer).
 */
export function pooledMetrics(registry: Registry, timeoutMs = 3000): () => Promise<Exposition> {
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry(); // adds the listener that answers the primary's requests for this registry
  const pending = new Map<number, (answer: Answer) => void>();
  let nextId = 0;
  process.on('message', (message: unknown) => {
    if (!isMessage<Answer>(message, ANSWER)) return;
    pending.get(message.id)?.(message);
  });
  return async () => {
    const id = nextId++;
    const answer = new Promise<Answer>((resolve) => {
      pending.set(id, resolve);
      process.send?.({ type: ASK, id } satisfies Ask);
    });
    try {
      const { text, error } = await withTimeout(answer, timeoutMs, "summing the pool's metrics");
      if (text === undefined) throw new Error(`summing the pool's metrics failed: ${error ?? 'no answer'}`);
      return { contentType: registry.contentType, text };
    } finally {
      pending.delete(id);
    }
  };
}
