import { Redis } from 'ioredis';
import { nodeDeltas, parseNodeInfo, type NodeReading } from './nodeStats.ts';

/**
 * Plain connections to each redis-server of a bench target (the single Redis, or each master of a
 * cluster): what a cluster client cannot give, since it sends INFO and SCAN to one node of its choice.
 */
export class RedisNodes {
  private readonly clients: Redis[];

  constructor(readonly urls: readonly string[]) {
    this.clients = urls.map((url) => {
      const client = new Redis(url, { maxRetriesPerRequest: null });
      client.on('error', () => {});
      return client;
    });
  }

  read(): Promise<NodeReading[]> {
    return Promise.all(
      this.clients.map(async (c) => parseNodeInfo((await c.call('INFO', 'cpu', 'stats', 'clients')) as string)),
    );
  }

  /** What each node did while `run` ran. */
  async during<T>(run: () => Promise<T>): Promise<{ result: T; nodes: NodeReading[]; elapsedMs: number }> {
    const before = await this.read();
    const started = performance.now();
    const result = await run();
    const elapsedMs = performance.now() - started;
    return { result, nodes: nodeDeltas(before, await this.read()), elapsedMs };
  }

  /** Every key matching `pattern`, over every node (a cluster's keys are spread over its masters). */
  async scan(pattern: string): Promise<string[]> {
    const found = await Promise.all(
      this.clients.map(async (client) => {
        const keys: string[] = [];
        let cursor = '0';
        do {
          const [next, batch] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
          cursor = next;
          keys.push(...batch);
        } while (cursor !== '0');
        return keys;
      }),
    );
    // SCAN may return a key twice (while the keyspace is rehashed, as it is after a run's writes): a key
    // counted twice was once taken for an order applied twice (the bench's rare "wide sale" violation).
    return [...new Set(found.flat())];
  }

  async usedMemory(): Promise<number> {
    const infos = await Promise.all(this.clients.map((c) => c.info('memory')));
    return infos.reduce((sum, info) => sum + Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? NaN), 0);
  }

  /** FLUSHALL on each: only ever on the bench's own servers (a replica follows its master). */
  async flush(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.flushall()));
  }

  close(): void {
    for (const client of this.clients) client.disconnect();
  }
}
