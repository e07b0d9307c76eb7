import type { IncomingMessage, RequestListener } from 'node:http';
import type { ErrorRequestHandler, Express, Request, RequestHandler, Response, Router } from 'express';

/** A route the door dispatches itself: the Express router that holds it, its method and its path as written there. */
export interface HotRoute {
  router: Router;
  method: 'get' | 'post';
  path: string;
}

/** The API's middleware in the order Express runs it before a hot route, and the one error handler. */
export interface DoorChain {
  /** Everything `app.use`d before the routes, in order (the same functions the app mounts). */
  middleware: readonly RequestHandler[];
  /** What answers a request no route took (the app's last handler before the error handler). */
  notFound: RequestHandler;
  errorHandler: ErrorRequestHandler;
}

/** The parts of router 2's Layer and Route the door uses (router's own objects, found in the router's stack). */
interface RouteLayer {
  route?: { path: string; methods: Record<string, boolean>; dispatch(req: Request, res: Response, done: Next): void };
  match(path: string): false | { params: Record<string, string> };
}
type Next = (error?: unknown) => void;

/**
 * The front door: the node:http request listener. A request for a hot route (`POST /orders`, `GET
 * /orders/:orderId`, `GET /products/:productId`) is dispatched here, ahead of Express's router: made an
 * Express request and answer as `app.handle` makes them, run through the same middleware functions
 * the app mounts, in the same order, then handed to the route's own Express `Route` (the handler
 * written once, in routes/), its errors to the app's one error handler. What it skips is only the
 * router's walk of its layers to find that route: in a sold-out storm that walk, with body-parser,
 * was most of what the API spends per request beyond Node's HTTP. Any other request, and any whose
 * path the route's matcher refuses, goes to the Express app whole.
 */
export function frontDoor(app: Express, chain: DoorChain, hot: readonly HotRoute[]): RequestListener {
  const routes = hot.map(({ router, method, path }) => {
    const layer = (router.stack as unknown as RouteLayer[]).find(
      (l) => l.route?.path === path && l.route.methods[method],
    );
    if (!layer?.route) throw new Error(`hot route ${method.toUpperCase()} ${path} is not in its router`);
    return { method: method.toUpperCase(), layer, route: layer.route };
  });
  // Express's request and response prototypes, with `app` on them (express/lib/express.js).
  const { request, response } = app as unknown as { request: object; response: object };
  const { middleware, notFound, errorHandler } = chain;

  return (req, res) => {
    const path = hotPath(req);
    let params: Record<string, string> | undefined;
    let route: (typeof routes)[number]['route'] | undefined;
    if (path !== undefined) {
      for (const hotRoute of routes) {
        if (hotRoute.method !== req.method) continue;
        let match: ReturnType<RouteLayer['match']>;
        try {
          match = hotRoute.layer.match(path);
        } catch {
          break; // a path Express refuses (bad percent-encoding): its answer is Express's
        }
        if (match) {
          params = match.params;
          route = hotRoute.route;
          break;
        }
      }
    }
    if (route === undefined || params === undefined) {
      app(req, res);
      return;
    }

    // What app.handle and router.handle set up, for the same handlers to find.
    const request_ = req as unknown as Request;
    const response_ = res as unknown as Response;
    request_.res = response_;
    response_.req = request_;
    Object.setPrototypeOf(req, request);
    Object.setPrototypeOf(res, response);
    if (!response_.locals) response_.locals = Object.create(null) as Response['locals'];
    request_.baseUrl = '';
    request_.originalUrl = req.url ?? '/';
    request_.params = {};

    // One object per request for the chain's `next` (methods, not closures: no function made per step).
    const handled = route;
    const routeParams = params;
    const pass = {
      index: 0,
      next(this: void, error?: unknown): void {
        if (error !== undefined && error !== null) return fail(errorHandler, request_, response_, error);
        const handler = middleware[pass.index++];
        if (handler !== undefined) return run(handler, request_, response_, pass.next);
        // The route's matching is the router's: its params, and `req.route` once it runs (metrics read it).
        request_.params = routeParams;
        handled.dispatch(request_, response_, pass.done);
      },
      /** After the route: a route that passed the request on (none of the hot ones does) finds no other. */
      done(this: void, error?: unknown): void {
        if (error === undefined || error === null || error === 'route')
          return run(notFound, request_, response_, pass.next);
        fail(errorHandler, request_, response_, error);
      },
    };
    pass.next();
  };
}

/** The error handler's answer; should it throw (an answer already under way), the connection ends, as Express's final handler ends it. */
function fail(errorHandler: ErrorRequestHandler, req: Request, res: Response, error: unknown): void {
  try {
    errorHandler(error, req, res, () => {});
  } catch {
    res.destroy();
  }
}

/** A handler called as Express's router calls it: what it throws, or its promise rejects with, goes on as an error. */
function run(handler: RequestHandler, req: Request, res: Response, next: Next): void {
  try {
    const returned: unknown = handler(req, res, next);
    if (returned instanceof Promise) returned.catch((error: unknown) => next(error ?? new Error('Rejected promise')));
  } catch (error) {
    next(error);
  }
}

/**
 * The request's pathname as the router reads it (parseurl's), for a plain origin-form URL: a path and
 * maybe a query. Anything parseurl hands on to Node's URL parser (a tab, space or `#`, an absolute
 * URL) is left to Express.
 */
function hotPath(req: IncomingMessage): string | undefined {
  if (req.method !== 'POST' && req.method !== 'GET') return undefined;
  const url = req.url;
  if (url === undefined || url.charCodeAt(0) !== 0x2f) return undefined;
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  return ODD_URL.test(url) ? undefined : path;
}
const ODD_URL = /[\t\n\f\r #\u00a0\ufeff]/;
