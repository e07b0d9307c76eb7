import { Router } from 'express';
import {
  AppError,
  adjustStock,
  getTaggedProduct,
  holdRulesOf,
  idSchema,
  productUpdateSchema,
  setProduct,
  stockDeltaSchema,
} from '@flashline/core';
import type { ApiDeps } from '../deps.ts';
import { requireAdmin } from '../http/adminAuth.ts';
import { jsonBody, parse } from '../http/validate.ts';

export function productRoutes({ redis, keys, config, webhookEvents }: ApiDeps): Router {
  const router = Router();
  const admin = requireAdmin(config.adminToken);
  // A read ends the product's expired holds first: its stock never leaves out units that are free.
  const holds = holdRulesOf(config, webhookEvents);
  const maxAge = config.productCacheMaxAgeS;
  const cacheControl = maxAge > 0 ? `public, max-age=${maxAge}` : 'no-cache';

  // Sets the stock absolutely. With If-Match (the ETag of a GET), only if nothing changed since that read.
  router.put('/products/:productId', admin, async (req, res) => {
    const productId = parse(idSchema, req.params.productId, 'productId');
    const update = parse(productUpdateSchema, jsonBody(req), 'body');
    const { product, etag } = await setProduct(redis, keys, productId, update, req.get('if-match'));
    res.set('ETag', etag).json(product);
  });

  // Adds or takes away units, atomically with whatever sells meanwhile.
  router.post('/products/:productId/stock', admin, async (req, res) => {
    const productId = parse(idSchema, req.params.productId, 'productId');
    const { delta } = parse(stockDeltaSchema, jsonBody(req), 'body');
    const { product, etag } = await adjustStock(redis, keys, productId, delta);
    res.set('ETag', etag).json(product);
  });

  // Cacheable: the "sold out yet?" polling of a sale may be absorbed by a CDN or the shop's edge,
  // which revalidates with the ETag. A 304 is answered here, not left to res.json's own freshness
  // check, so that no way of writing the answer can lose it.
  router.get('/products/:productId', async (req, res) => {
    const productId = parse(idSchema, req.params.productId, 'productId');
    const read = await getTaggedProduct(redis, keys, productId, holds);
    if (!read) throw new AppError('not_found', `product ${productId} does not exist`);
    res.set('ETag', read.etag).set('Cache-Control', cacheControl);
    // req.fresh: If-None-Match against the ETag just set, compared weakly, lists and * included (RFC 9110 13.1.2).
    if (req.fresh) res.status(304).end();
    else res.json(read.product);
  });

  return router;
}
