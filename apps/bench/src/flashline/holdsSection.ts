import type { Ratio, Row } from '../report.ts';
import { round } from '../measure.ts';
import { measureHoldExpiry } from './holdExpiry.ts';
import type { Invariant } from './invariant.ts';
import { measureWorkerSide } from './workerSide.ts';

export interface HoldsSectionDeps {
  redisUrl: string;
  /** Empties the Redis between runs. */
  fresh: () => Promise<void>;
  rounds: number;
  workers: number;
  env: Record<string, string>;
  orders: number;
  progress: (label: string) => void;
}

export const HOLD_EXPIRY_HOLDS = 10_000;
const PLAIN = 'Flashline hot product, worker side (beside the held run)';
const HELD = 'Flashline hot product, worker side, held units';
const EXPIRY = `Flashline ${HOLD_EXPIRY_HOLDS.toLocaleString('en-US')} holds expiring in the same second`;
const RESOLD = 'Flashline the freed units sold again';

/** The progress labels of the section, in order. */
export const holdsSteps = (rounds: number): string[] => [
  ...Array.from({ length: rounds }, (_, r) => [PLAIN, HELD].map((name) => `${name} (round ${r + 1}/${rounds})`)).flat(),
  EXPIRY,
];

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;

/**
 * Holds against no holds, the hot product worker side, round by round side by side (the same orders,
 * the same stock; with holdSeconds every won order is `reserved`, its deadline indexed, its timer set),
 * then 10,000 holds expiring together: how long after its deadline each was released and the freed
 * units sold again.
 */
export async function holdsSection(deps: HoldsSectionDeps) {
  const stock = deps.orders / 2;
  const checks: { scenario: string; check: Invariant }[] = [];
  const plain: number[] = [];
  const held: number[] = [];
  const notes: { plain: string[]; held: string[] } = { plain: [], held: [] };
  for (let r = 0; r < deps.rounds; r++) {
    for (const [name, holdSeconds, into] of [
      [PLAIN, undefined, plain],
      [HELD, 3600, held],
    ] as const) {
      deps.progress(`${name} (round ${r + 1}/${deps.rounds})`);
      await deps.fresh();
      const run = await measureWorkerSide({
        redisUrl: deps.redisUrl,
        keyPrefix: `holds-${holdSeconds ?? 0}-${r}`,
        products: [{ productId: 'hot', stock, ...(holdSeconds ? { holdSeconds } : {}) }],
        orderProducts: new Array<number>(deps.orders).fill(0),
        workers: deps.workers,
        env: deps.env,
      });
      checks.push({ scenario: `${name}, round ${r + 1}`, check: run.invariant });
      into.push(run.decisionsPerSecond);
      (holdSeconds ? notes.held : notes.plain).push(
        `${Math.round(run.decisionsPerSecond).toLocaleString('en-US')}/s (${round(run.ordersPerCommit)} per commit, Redis ${Math.round((run.cpu.redis ?? 0) * 100)}%)`,
      );
    }
  }
  deps.progress(EXPIRY);
  await deps.fresh();
  const expiry = await measureHoldExpiry({
    redisUrl: deps.redisUrl,
    keyPrefix: 'expiry',
    holds: HOLD_EXPIRY_HOLDS,
    holdSeconds: 2,
    workers: deps.workers,
    env: deps.env,
  });
  checks.push({ scenario: EXPIRY, check: expiry.invariant });
  const ratioByRound = plain.map((p, i) => round(held[i]! / p));
  const rows: Row[] = [
    {
      scenario: PLAIN,
      what: `${deps.orders} orders for 1 product (stock ${stock}), queue pre-filled, no holdSeconds`,
      perSecond: median(plain),
      notes: `median of ${plain.length} rounds: ${notes.plain.join(', ')}`,
    },
    {
      scenario: HELD,
      what: 'the same with `holdSeconds` 3600: every won order reserved, its deadline indexed and its expiry timer set',
      perSecond: median(held),
      notes: `median of ${held.length} rounds: ${notes.held.join(', ')}; held ÷ plain by round ${ratioByRound.join(', ')}`,
    },
    {
      scenario: EXPIRY,
      what: `${expiry.holds.toLocaleString('en-US')} one-unit holds of 2 s won in ${expiry.firstWaveMs} ms (deadlines within ${expiry.deadlineSpreadMs} ms), released by their timers`,
      perSecond: expiry.released / ((expiry.deadlineSpreadMs + expiry.allReleasedAfterMs) / 1000),
      notes: `released ${expiry.released}, still held ${expiry.stillHeld}; each released ${expiry.releaseLagMs.p50} ms (p50), ${expiry.releaseLagMs.p99} ms (p99), ${expiry.releaseLagMs.max} ms (max) after its deadline; the last ${expiry.allReleasedAfterMs} ms after the last deadline`,
    },
    {
      scenario: RESOLD,
      what: `then ${expiry.holds.toLocaleString('en-US')} new one-unit orders for the freed units`,
      perSecond: expiry.resoldPerSecond,
      notes: `${expiry.resold} of ${expiry.holds} won`,
    },
  ];
  const ratios: Ratio[] = [
    {
      target: 'hot product with holdSeconds: decisions/s ÷ without (medians, same run)',
      measured: median(held) / median(plain),
      goal: 0.9,
      kind: 'min',
    },
    {
      target: `${HOLD_EXPIRY_HOLDS.toLocaleString('en-US')} holds expiring in the same second: seconds from the last deadline until the last release`,
      measured: expiry.allReleasedAfterMs / 1000,
      goal: 2,
      kind: 'max',
    },
    {
      target: 'the freed units sold again: share of the new orders won',
      measured: expiry.resold / expiry.holds,
      goal: 1,
      kind: 'min',
    },
  ];
  return { rows, ratios, checks };
}
