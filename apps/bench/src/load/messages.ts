import type { LoadTestResult, Transport } from './loadTest.ts';

/** A load plan with every body and header set computed up front: functions cannot cross IPC. */
export interface SerializedPlan {
  url: string;
  concurrency: number;
  total: number;
  method: string;
  timeoutMs: number;
  bodies: string[];
  headers: Record<string, string>[] | null;
  transport: Transport;
}

export type ToGenerator = { type: 'plan'; plan: SerializedPlan } | { type: 'go' };
export type FromGenerator = { type: 'ready' } | { type: 'result'; result: LoadTestResult; cpuMs: number };
