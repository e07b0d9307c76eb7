/** One decimal is plenty for figures that vary by more than that from one run to the next. */
export function round(value: number): number {
  return Math.round(value * 10) / 10;
}

/** Nearest-rank percentile (0 < p ≤ 100) of values already sorted ascending; 0 when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/** CPU time (user + system) this process spent since `since`, in milliseconds. */
export function cpuMsSince(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return round((used.user + used.system) / 1000);
}
