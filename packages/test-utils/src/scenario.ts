import {
  check,
  planOrders,
  setUpProducts,
  submitBurst,
  violations,
  type CheckReport,
  type Outcome,
  type ProductPlan,
} from './checker.ts';
import { startSystem, type System, type SystemOptions } from './system.ts';

export interface ScenarioOptions {
  system: SystemOptions;
  products: ProductPlan[];
  orders: number;
  seed: number;
  concurrency?: number;
  /**
   * Runs beside the burst; resolves when its faults are done. `burst` settles when every request has
   * its outcome. Requests the fault sends itself go into `extra`, so the checker accounts for them too.
   */
  fault: (system: System, burst: Promise<Outcome[]>, extra: Outcome[]) => Promise<void>;
  /** Undo every fault (restart what was killed, resume what was paused); runs after the burst and the fault. */
  heal?: (system: System) => Promise<void>;
  drainTimeoutMs?: number;
}

export interface ScenarioResult {
  report: CheckReport;
  violations: Partial<CheckReport>;
  /** Exit codes of the processes at the final graceful stop. */
  exitCodes: (number | null)[];
}

/** One fault scenario, end to end: system up, burst with the fault, heal, drain, check, system down. */
export async function runScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const system = await startSystem(options.system);
  try {
    await setUpProducts(system.apiUrl, options.products);
    const burst = submitBurst(system.apiUrl, planOrders(options.products, options.orders, options.seed), {
      concurrency: options.concurrency ?? 32,
    });
    const extra: Outcome[] = [];
    await options.fault(system, burst, extra);
    const outcomes = [...(await burst), ...extra];
    await options.heal?.(system);
    const report = await check(system, options.products, outcomes, { timeoutMs: options.drainTimeoutMs ?? 30_000 });
    return { report, violations: violations(report), exitCodes: await system.stop() };
  } catch (error) {
    await system.stop().catch(() => {});
    throw error;
  }
}

export function products(count: number, stock: number): ProductPlan[] {
  return Array.from({ length: count }, (_, i) => ({ productId: `sku-${i}`, stock }));
}
