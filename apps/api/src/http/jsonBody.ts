import type { IncomingMessage } from 'node:http';
import express, { type RequestHandler } from 'express';

export interface JsonBodyOptions {
  /** Bytes at most, as body-parser's `limit`. */
  limit: number;
  /** body-parser's `verify` hook: throws to refuse the raw body (see requireUtf8). */
  verify: (req: IncomingMessage, res: unknown, body: Buffer, encoding: string) => void;
}

/** The content types a plain order's body comes with (lower case, as sent); any other is body-parser's to judge. */
const PLAIN_TYPES = new Set(['application/json', 'application/json; charset=utf-8', 'application/json;charset=utf-8']);
const DIGITS = /^\d{1,5}$/;
// JSON's whitespace (space, tab, line feed, carriage return), as body-parser reads it.
const FIRST_NON_WHITESPACE = /^[ \t\n\r]*([^ \t\n\r]|$)/;

/** An error as body-parser makes it: the error handler reads its `type` and `status` (errors.ts). */
const bodyError = (type: string, status: number, cause?: unknown) =>
  Object.assign(new Error(`request body refused: ${type}`, { cause }), { type, status, expose: true });

/**
 * `express.json({ limit, strict: true, verify })`, with the request nearly every sale sends read here:
 * `Content-Type: application/json` (UTF-8), a `Content-Length` within the limit, no `Content-Encoding`,
 * no chunked body. body-parser's general machinery (content-type and charset parsing, raw-body's
 * stream handling, iconv) cost a tenth of the API's CPU in a sold-out storm for exactly that request.
 * Read the same way as body-parser reads it: the bytes verified, decoded as UTF-8 without a BOM,
 * strict JSON (an object or array; an empty body is `{}`), `req.body` set. Every other request
 * (another charset or type, a compressed or chunked body, one past the limit) goes to body-parser.
 */
export function jsonBody(options: JsonBodyOptions): RequestHandler {
  const general = express.json({ limit: options.limit, strict: true, verify: options.verify });
  return (req, res, next) => {
    const { headers } = req;
    const type = headers['content-type'];
    const length = headers['content-length'];
    if (
      type === undefined ||
      !PLAIN_TYPES.has(type.toLowerCase()) ||
      length === undefined ||
      !DIGITS.test(length) ||
      Number(length) > options.limit ||
      headers['transfer-encoding'] !== undefined ||
      (headers['content-encoding'] !== undefined && headers['content-encoding'].toLowerCase() !== 'identity') ||
      req.readableEnded
    ) {
      general(req, res, next);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const aborted = (error: unknown) => next(bodyError('request.aborted', 400, error));
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      chunks.push(chunk);
    });
    req.once('error', aborted);
    req.once('end', () => {
      req.off('error', aborted);
      const raw = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      try {
        options.verify(req, res, raw, 'utf-8');
      } catch (error) {
        const { type: refusal } = error as { type?: unknown };
        return next(bodyError(typeof refusal === 'string' ? refusal : 'entity.verify.failed', 403, error));
      }
      let text = raw.toString('utf8');
      // iconv-lite, body-parser's decoder, drops a byte order mark.
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      try {
        req.body = parseStrict(text);
      } catch (error) {
        return next(bodyError('entity.parse.failed', 400, error));
      }
      next();
    });
  };
}

/** body-parser's strict JSON: an object or an array, and an empty body is `{}` (a common client mistake). */
function parseStrict(text: string): unknown {
  if (text.length === 0) return {};
  if (text[0] !== '{' && text[0] !== '[') {
    const first = FIRST_NON_WHITESPACE.exec(text)?.[1];
    if (first !== '{' && first !== '[') throw new SyntaxError('strict JSON: an object or an array');
  }
  return JSON.parse(text);
}
