import type { RedisClient } from '../redis/connect.ts';
import { pipelineBySlot } from '../redis/slotPipeline.ts';
import { AppError } from '../errors/appError.ts';
import { PRODUCT_GROUPS, type Keys } from '../keys/keys.ts';
import type { ProductUpdate } from '../orders/schemas.ts';
import { decodeAdjustStock, decodeSetProduct, type ProductFields } from '../redis/replies.ts';
import { expireHolds, type HoldRules } from '../orders/holds.ts';

export interface Product {
  productId: string;
  /** Units free to sell (not held, not sold). */
  stock: number;
  /** Units held now for orders that are `reserved` (waiting for payment); 0 without holdSeconds. */
  reserved: number;
  /** Units sold: orders confirmed (paid, with holdSeconds). */
  sold: number;
  /** Most units one user may buy; null for no limit. */
  perUserLimit: number | null;
  /** The sale window (ISO 8601, UTC): orders before `opensAt` and from `closesAt` on are refused; null: no bound. */
  opensAt: string | null;
  closesAt: string | null;
  /** Seconds a won order's units are held for payment (`reserved`, then `confirmed` or back to stock); null: none. */
  holdSeconds: number | null;
}

/** A product as read, with its entity tag: `"<version>"`, the state's version (lua/lib/productVersion.lua). */
export interface TaggedProduct {
  product: Product;
  /**
   * Bumped by every change of a field the product shows (a stock set or delta, a sale, a hold held
   * or ended, the window, the limit, holdSeconds), so one tag names one body: a PUT that sends it
   * back in If-Match applies only to the state its sender read, and a cache revalidates with it.
   */
  etag: string;
}

/** The fields of a product hash, in this order: what getProduct reads and the scripts answer. */
const PRODUCT_FIELDS = [
  'stock',
  'sold',
  'perUserLimit',
  'opensAt',
  'closesAt',
  'holdSeconds',
  'reserved',
  'version',
] as const;

function toTagged(
  productId: string,
  [stock, sold, limit, opensAt, closesAt, holdSeconds, reserved, version]: (string | null)[],
): TaggedProduct | null {
  if (stock == null) return null;
  const perUserLimit = Number(limit ?? 0);
  const product: Product = {
    productId,
    stock: Number(stock),
    reserved: Number(reserved ?? 0),
    sold: Number(sold ?? 0),
    perUserLimit: perUserLimit > 0 ? perUserLimit : null,
    opensAt: opensAt ? new Date(Number(opensAt)).toISOString() : null,
    closesAt: closesAt ? new Date(Number(closesAt)).toISOString() : null,
    holdSeconds: holdSeconds ? Number(holdSeconds) : null,
  };
  // No version: a product no script has changed since versions began (its first change sets one).
  return { product, etag: `"${version ?? 0}"` };
}

const fromFields = (productId: string, f: ProductFields) =>
  toTagged(productId, [f.stock, f.sold, f.perUserLimit, f.opensAt, f.closesAt, f.holdSeconds, f.reserved, f.version])!;

/** setProduct-2.lua's window argument: '' keeps the current bound, 0 removes it. */
const windowArg = (time: number | null | undefined): string | number => (time === undefined ? '' : (time ?? 0));

/**
 * setProduct-2.lua's precondition arguments for an If-Match header: '*' (any state of an existing
 * product), or the number of versions it names and the versions. A weak tag never matches (If-Match
 * compares strongly, RFC 9110 13.1.1), nor does anything that is not a version: none named, none
 * matches.
 */
function precondition(ifMatch: string): (string | number)[] {
  if (ifMatch.trim() === '*') return ['*'];
  const versions: string[] = [];
  for (const tag of ifMatch.split(',')) {
    const match = /^\s*"(\d{1,16})"\s*$/.exec(tag);
    if (match) versions.push(match[1]!);
  }
  return [versions.length, ...versions];
}

/**
 * Sets the sellable stock (a restock or a correction); an absent perUserLimit, opensAt or closesAt
 * keeps the current one, null removes it (a window that would close before it opens, with the bound
 * kept, is `invalid_request`). With `ifMatch` (an If-Match header) it applies only while the product is in a
 * state the header names, in the same atomic step, else throws `precondition_failed`.
 */
export async function setProduct(
  redis: RedisClient,
  keys: Keys,
  productId: string,
  update: ProductUpdate,
  ifMatch?: string,
): Promise<TaggedProduct> {
  const limit = update.perUserLimit === undefined ? '' : (update.perUserLimit ?? 0);
  const states = ifMatch === undefined ? [0] : precondition(ifMatch);
  if (states[0] === 0 && ifMatch !== undefined) throw preconditionFailed(productId);
  const reply = await redis.setProduct([
    keys.product(productId),
    keys.productsOfGroup(keys.group(productId)),
    productId,
    update.stock,
    limit,
    windowArg(update.opensAt),
    windowArg(update.closesAt),
    update.holdSeconds === undefined ? '' : (update.holdSeconds ?? 0),
    ...states,
  ]);
  const outcome = decodeSetProduct(reply);
  switch (outcome.kind) {
    case 'set':
      return fromFields(productId, outcome);
    case 'precondition_failed':
      throw preconditionFailed(productId);
    case 'invalid_window':
      throw new AppError('invalid_request', `the sale window of ${productId} would close before it opens`);
  }
}

const preconditionFailed = (productId: string) =>
  new AppError('precondition_failed', `product ${productId} is not in the state If-Match names: read it again`);

/**
 * Adds `delta` units to the stock (negative: takes them away) in one atomic step, whatever sells
 * meanwhile. Throws `not_found` for an unknown product and `insufficient_stock` when fewer units are
 * left than a negative delta takes away; either way nothing changed.
 */
export async function adjustStock(
  redis: RedisClient,
  keys: Keys,
  productId: string,
  delta: number,
): Promise<TaggedProduct> {
  const outcome = decodeAdjustStock(await redis.adjustStock([keys.product(productId), delta]));
  switch (outcome.kind) {
    case 'adjusted':
      return fromFields(productId, outcome);
    case 'unknown_product':
      throw new AppError('not_found', `product ${productId} does not exist`);
    case 'insufficient_stock':
      throw new AppError('insufficient_stock', `product ${productId} has fewer than ${-delta} units left`);
  }
}

/** Every product ever set up: the registries of all the groups, read in one round trip (per slot, on a cluster). */
export async function listProducts(redis: RedisClient, keys: Keys): Promise<string[]> {
  const groups = Array.from({ length: PRODUCT_GROUPS }, (_, group) => keys.productsOfGroup(group));
  const replies = await pipelineBySlot(
    redis,
    groups,
    (key) => key,
    (pipeline, key) => pipeline.smembers(key),
  );
  return replies.flatMap(([[error, members] = [null, []]]) => {
    if (error) throw error;
    return members as string[];
  });
}

/**
 * Reads a product and its ETag. With `holds` (what the API passes), a hold past its deadline is ended
 * first, so the stock shown never leaves out units whose hold has expired, however late their timer is.
 */
export async function getTaggedProduct(
  redis: RedisClient,
  keys: Keys,
  productId: string,
  holds?: HoldRules,
): Promise<TaggedProduct | null> {
  const [dueAt, ...fields] = await redis.hmget(keys.product(productId), 'holdsDueAt', ...PRODUCT_FIELDS);
  if (holds && dueAt != null && Number(dueAt) <= Date.now()) {
    await expireHolds(redis, keys, productId, holds);
    return toTagged(productId, await redis.hmget(keys.product(productId), ...PRODUCT_FIELDS));
  }
  return toTagged(productId, fields);
}

/** Reads a product (getTaggedProduct without the tag). */
export async function getProduct(
  redis: RedisClient,
  keys: Keys,
  productId: string,
  holds?: HoldRules,
): Promise<Product | null> {
  return (await getTaggedProduct(redis, keys, productId, holds))?.product ?? null;
}
