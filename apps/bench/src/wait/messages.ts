/** How the buyers ask: one GET ?wait= each, or a GET every `pollMs` until the order is decided. */
export type BuyerMode = { kind: 'wait'; waitS: number } | { kind: 'poll'; pollMs: number };

export type ToBuyers = { type: 'go'; url: string; orderIds: string[]; mode: BuyerMode };

export interface BuyersResult {
  /** Per buyer: when (epoch ms) the decided order reached it, and its decidedAt (epoch ms); NaN when it never did. */
  answeredAt: number[];
  decidedAt: number[];
  requests: number;
  failures: number;
}

export type FromBuyers =
  /** Every buyer has sent its first request (each on a connection of its own). */
  | { type: 'in' }
  /** The buyers' CPU so far, asked for with `cpu`. */
  | { type: 'cpu'; cpuMs: number }
  | { type: 'done'; result: BuyersResult; cpuMs: number };

export type BuyersCommand = ToBuyers | { type: 'cpu' };
