import { Router } from 'express';
import { AppError, getProduct, idSchema, productUpdateSchema, setProduct } from '@flashline/core';
import type { ApiDeps } from '../deps.ts';
import { requireAdmin } from '../http/adminAuth.ts';
import { jsonBody, parse } from '../http/validate.ts';

export function productRoutes({ redis, keys, config }: ApiDeps): Router {
  const router = Router();

  router.put('/products/:productId', requireAdmin(config.adminToken), async (req, res) => {
    const productId = parse(idSchema, req.params.productId, 'productId');
    const update = parse(productUpdateSchema, jsonBody(req), 'body');
    res.json(await setProduct(redis, keys, productId, update));
  });

  router.get('/products/:productId', async (req, res) => {
    const productId = parse(idSchema, req.params.productId, 'productId');
    const product = await getProduct(redis, keys, productId);
    if (!product) throw new AppError('not_found', `product ${productId} does not exist`);
    res.json(product);
  });

  return router;
}
