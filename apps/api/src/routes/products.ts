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

export function productRoutes({ redis, keys, config }: ApiDeps): Router {
  const router = Router();
  const admin = requireAdmin(config.adminToken);
  // A read ends the product's expired holds first: its stock never leaves out units that are free.
  const holds = holdRulesOf(config);

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

  router.get('/products/:productId', async (req, res) => {
    const productId = parse(idSchema, req.params.productId, 'productId');
    const read = await getTaggedProduct(redis, keys, productId, holds);
    if (!read) throw new AppError('not_found', `product ${productId} does not exist`);
    res.set('ETag', read.etag).json(read.product);
  });

  return router;
}
