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
import { startShop, type ShopPlan } from './shop.ts';
import { startSystem, type BaseSystem, type System, type SystemOptions } from './system.ts';

export interface ScenarioOptions<S extends BaseSystem = System> {
  system: SystemOptions;
  /** How the system starts: a private redis-server by default (startSystem); `startClusterSystem` on a cluster. */
  start?: (options: SystemOptions) => Promise<S>;
  products: ProductPlan[];
  orders: number;
  seed: number;
  concurrency?: number;
  /** Tries per request before its outcome stays unknown (submitBurst's default: 5). */
  tries?: number;
  /**
   * Runs beside the burst; resolves when its faults are done. `burst` settles when every request has
   * its outcome. Requests the fault sends itself go into `extra`, so the checker accounts for them too.
   */
  fault: (system: S, burst: Promise<Outcome[]>, extra: Outcome[]) => Promise<void>;
  /** Undo every fault (restart what was killed, resume what was paused); runs after the burst and the fault. */
  heal?: (system: S) => Promise<void>;
  drainTimeoutMs?: number;
  /** The shop confirms and cancels holds (products with holdSeconds) while the burst and the faults run. */
  shop?: ShopPlan;
  /** The products the fault hit and when, once it has (read at the check): the report gets `decisions_paused_ms`. */
  watch?: () => { productIds: string[]; from: number } | undefined;
}

export interface ScenarioResult {
  report: CheckReport;
  violations: Partial<CheckReport>;
  /** Exit codes of the processes at the final graceful stop. */
  exitCodes: (number | null)[];
}

/** One fault scenario, end to end: system up, burst with the fault, heal, drain, check, system down. */
export async function runScenario<S extends BaseSystem = System>(options: ScenarioOptions<S>): Promise<ScenarioResult> {
  const start = options.start ?? (startSystem as unknown as (options: SystemOptions) => Promise<S>);
  const system = await start(options.system);
  try {
    await setUpProducts(system.apiUrl, options.products);
    const shop = options.shop ? startShop(system.apiUrl, options.shop) : undefined;
    const burst = submitBurst(system.apiUrl, planOrders(options.products, options.orders, options.seed), {
      concurrency: options.concurrency ?? 32,
      ...(options.tries ? { tries: options.tries } : {}),
      ...(shop ? { onOutcome: shop.onOutcome } : {}),
    });
    const extra: Outcome[] = [];
    await options.fault(system, burst, extra);
    const outcomes = [...(await burst), ...extra];
    await options.heal?.(system);
    const shopOutcomes = await shop?.done();
    const watch = options.watch?.();
    const report = await check(system, options.products, outcomes, {
      timeoutMs: options.drainTimeoutMs ?? 30_000,
      ...(watch ? { watch } : {}),
      ...(shopOutcomes ? { shop: shopOutcomes } : {}),
    });
    return { report, violations: violations(report), exitCodes: await system.stop() };
  } catch (error) {
    await system.stop().catch(() => {});
    throw error;
  }
}

export function products(count: number, stock: number): ProductPlan[] {
  return Array.from({ length: count }, (_, i) => ({ productId: `sku-${i}`, stock }));
}
