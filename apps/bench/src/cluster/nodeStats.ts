/** What one redis-server reports of itself at a moment: the counters a bench compares before and after a run. */
export interface NodeReading {
  /** used_cpu_user + used_cpu_sys: every thread of the process, in seconds. */
  cpuSeconds: number;
  /** total_commands_processed: every command run, in Redis 7 those a script calls included (so a measure of work). */
  commands: number;
  connectedClients: number;
  blockedClients: number;
}

/** A NodeReading from the text of `INFO cpu stats clients`. */
export function parseNodeInfo(info: string): NodeReading {
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return {
    cpuSeconds: field('used_cpu_user') + field('used_cpu_sys'),
    commands: field('total_commands_processed'),
    connectedClients: field('connected_clients'),
    blockedClients: field('blocked_clients'),
  };
}

/** What each node did between two readings (the same nodes, in the same order). */
export function nodeDeltas(before: readonly NodeReading[], after: readonly NodeReading[]): NodeReading[] {
  if (before.length !== after.length) throw new Error(`${before.length} readings before, ${after.length} after`);
  return after.map((a, i) => {
    const b = before[i]!;
    return {
      cpuSeconds: a.cpuSeconds - b.cpuSeconds,
      commands: a.commands - b.commands,
      connectedClients: a.connectedClients - b.connectedClients,
      blockedClients: a.blockedClients - b.blockedClients,
    };
  });
}

export interface Balance {
  /** Each node's part of the total (they sum to 1). */
  shares: number[];
  /** The busiest node's figure over the mean: 1 is a perfect spread, n (of n nodes) all on one. */
  maxOverMean: number;
}

/** How evenly a figure (commands, CPU) spread over the nodes. */
export function balanceOf(values: readonly number[]): Balance {
  const total = values.reduce((a, b) => a + b, 0);
  if (values.length === 0 || !(total > 0)) return { shares: values.map(() => NaN), maxOverMean: NaN };
  return {
    shares: values.map((v) => v / total),
    maxOverMean: Math.max(...values) / (total / values.length),
  };
}

/** The lower middle of the values (the median of an odd count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  return [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;
}
