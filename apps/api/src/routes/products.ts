import { Router } from 'express';
import {
  AppError,
  adjustStock,
  getProduct,
  holdRulesOf,
  idSchema,
  productETag,
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

  // Sets the stock absolutely. With If-Match (the ETag of a GET), only if nothing changed since that read.
  router.put('/products/:productId', admin, async (req, res) => {
    const productId = parse(idSchema, req.params.productId, 'productId');
    const update = parse(productUpdateSchema, jsonBody(req), 'body');
    const product = await setProduct(redis, keys, productId, update, req.get('if-match'));
    res.set('ETag', productETag(product)).json(product);
  });

  // Adds or takes away units, atomically with whatever sells meanwhile.
  router.post('/products/:productId/stock', admin, async (req, res) => {
    const productId = parse(idSchema, req.params.productId, 'productId');
    const { delta } = parse(stockDeltaSchema, jsonBody(req), 'body');
    const product = await adjustStock(redis, keys, productId, delta);
    res.set('ETag', productETag(product)).json(product);
  });

  router.get('/products/:productId', async (req, res) => {
    const productId = parse(idSchema, req.params.productId, 'productId');
    const product = await getProduct(redis, keys, productId, holds);
    if (!product) throw new AppError('not_found', `product ${productId} does not exist`);
    res.set('ETag', productETag(product)).json(product);
  });

  return router;
}
