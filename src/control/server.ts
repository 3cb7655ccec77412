// The control socket: HTTP/1.1 with JSON bodies on a unix socket, so that
// `curl --unix-socket` works and nothing new is invented (DESIGN.md §6). Each
// route is documented in docs/control-api.md, its types in wire.ts. Requests
// only become supervisor commands or read its snapshot; a bad or oversized
// request gets a 4xx with a JSON error.

import { chmodSync, chownSync } from 'node:fs';
import http from 'node:http';
import { parseSignal } from '../config/units.js';
import { FastCGIClient } from '../fastcgi/client.js';
import { LIMITS, type WebConfig } from '../config/types.js';
import { overrideWeb, webParams } from '../web/params.js';
import { noSuch, resolveGroup, said } from '../host/identity.js';
import { LOG_RING_SIZE, entryLine } from '../supervisor/logbook.js';
import { CommandError } from '../supervisor/errors.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import { claimControlPath } from './claim.js';
import { METRICS_CONTENT_TYPE, renderMetrics } from './metrics.js';
import { buildStatus } from './status.js';
import { FOLLOWER_BUFFER, type FastCGIResponse, type PingResponse, type PingResult } from './wire.js';

export const MAX_BODY = 1024 * 1024;

/** Followers of the log at once (`GET /v1/logs?follow=1`); one more gets 503. */
export const MAX_FOLLOWERS = 64;

/** The longest a `request` through the control socket may wait for its answer. */
export const MAX_REQUEST_TIMEOUT_MS = 3_600_000;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

type Handler = (ctx: { url: URL; body: Record<string, unknown>; params: string[]; req: http.IncomingMessage; res: http.ServerResponse }) => Promise<unknown> | unknown;

interface Route {
  method: 'GET' | 'POST';
  pattern: RegExp;
  handler: Handler;
}

export interface ControlOptions {
  path: string;
  mode: number;
  group: string | null;
  version: string;
}

export class ControlServer {
  private readonly server: http.Server;
  private readonly routes: Route[];
  private readonly followers = new Set<http.ServerResponse>();

  constructor(
    private readonly sup: Supervisor,
    private readonly options: ControlOptions,
  ) {
    this.routes = this.table();
    // A client that sends half a request must not hold a connection forever. Node
    // checks these timeouts only every connectionsCheckingInterval (30 s by
    // default), so without a shorter one a half-sent request lived ~30 s, not 5.
    this.server = http.createServer({ connectionsCheckingInterval: 1000 }, (req, res) => void this.dispatch(req, res));
    this.server.requestTimeout = 10_000;
    this.server.headersTimeout = 5_000;
  }

  async listen(): Promise<void> {
    const { path } = this.options;
    await claimControlPath(path, this.sup.config.file);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(path, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    chmodSync(path, this.options.mode);
    if (this.options.group !== null) {
      const gid = resolveGroup(this.options.group);
      if (gid === null) throw new Error(said(noSuch('control.group', 'group', this.options.group)));
      chownSync(path, -1, gid);
    }
  }

  close(): Promise<void> {
    for (const res of this.followers) res.end();
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private table(): Route[] {
    const sup = this.sup;
    const pool = (params: string[]): string => {
      try {
        return decodeURIComponent(params[0]!);
      } catch {
        throw new HttpError(400, 'FCGID_BAD_REQUEST', `the pool name in the path is not valid percent-encoding: ${JSON.stringify(params[0])}`);
      }
    };
    const r = (method: Route['method'], path: string, handler: Handler): Route => ({
      method,
      pattern: new RegExp(`^${path.replace(/:name/g, '([^/]+)')}$`),
      handler,
    });
    return [
      r('GET', '/v1/status', ({ url }) => {
        const only = url.searchParams.get('pool') ?? undefined;
        if (only !== undefined) sup.checkPool(only);
        return buildStatus(sup.snapshot(), this.options.version, process.pid, only);
      }),
      r('GET', '/v1/ping', ({ url }) => this.ping(url.searchParams.get('pool'))),
      r('POST', '/v1/restart', ({ body }) => sup.command({ kind: 'restart', pools: optionalStrings(body, 'pools'), batch: optionalInteger(body, 'batch', 1, LIMITS.workers), hard: body.hard === true })),
      r('POST', '/v1/reload', () => sup.command({ kind: 'reload' })),
      r('POST', '/v1/pools/:name/scale', ({ params, body }) => {
        const workers = optionalInteger(body, 'workers', 0, LIMITS.workers);
        if (workers === undefined) throw new HttpError(400, 'FCGID_BAD_REQUEST', 'expected {"workers": N}');
        return sup.command({ kind: 'scale', pool: pool(params), workers });
      }),
      r('POST', '/v1/pools/:name/stop', ({ params }) => sup.command({ kind: 'stop', pool: pool(params) })),
      r('POST', '/v1/pools/:name/start', ({ params }) => sup.command({ kind: 'start', pool: pool(params) })),
      r('POST', '/v1/pools/:name/signal', ({ params, body }) => {
        const signal = parseSignal(body.signal);
        if (!signal.ok) throw new HttpError(400, 'FCGID_BAD_REQUEST', `expected {"signal": "SIGHUP"}, got ${JSON.stringify(body.signal)}`);
        return sup.command({ kind: 'signal', pool: pool(params), signal: signal.value });
      }),
      r('POST', '/v1/pools/:name/request', ({ params, body }) => this.request(pool(params), body)),
      r('GET', '/v1/logs', ({ url, req, res }) => this.logs(url, req, res)),
      r('GET', '/metrics', ({ res }) => {
        res.writeHead(200, { 'Content-Type': METRICS_CONTENT_TYPE }).end(renderMetrics(sup.snapshot()));
        return undefined;
      }),
      // Answered before the stop begins, so the client hears it.
      r('POST', '/v1/shutdown', () => (setImmediate(() => void sup.command({ kind: 'shutdown', why: 'received a shutdown request' })), { state: 'stopping' })),
    ];
  }

  private async dispatch(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://fcgid');
      const matching = this.routes.filter((r) => r.pattern.test(url.pathname));
      if (matching.length === 0) throw new HttpError(404, 'FCGID_NO_ROUTE', `no route ${url.pathname}; see docs/control-api.md`);
      const route = matching.find((r) => r.method === req.method);
      if (!route) {
        res.setHeader('Allow', matching.map((r) => r.method).join(', '));
        throw new HttpError(405, 'FCGID_BAD_METHOD', `${req.method} is not allowed on ${url.pathname}; use ${matching.map((r) => r.method).join(' or ')}`);
      }
      const body = req.method === 'POST' ? await readJson(req) : {};
      const params = route.pattern.exec(url.pathname)!.slice(1);
      const result = await route.handler({ url, body, params, req, res });
      if (!res.headersSent && result !== undefined) send(res, 200, result);
    } catch (err) {
      const e = toHttpError(err);
      if (!res.headersSent) send(res, e.status, { error: { code: e.code, message: e.message, ...e.extra } });
      else res.end();
    }
  }

  private async ping(only: string | null): Promise<PingResponse> {
    if (only !== null) this.sup.checkPool(only);
    const names = only === null ? this.sup.snapshot().pools.map((p) => p.name) : [only];
    const results = await Promise.all(
      names.map(async (name): Promise<PingResult> => {
        const client = new FastCGIClient({ address: this.sup.addressOf(name), connectTimeout: 2000, timeout: 2000 });
        const started = Date.now();
        try {
          const values = await client.getValues();
          return { pool: name, ok: true, ms: Date.now() - started, values: Object.fromEntries(values) };
        } catch (err) {
          return { pool: name, ok: false, ms: Date.now() - started, error: (err as Error).message };
        } finally {
          client.close();
        }
      }),
    );
    const ok = results.every((r) => r.ok);
    if (!ok) throw new HttpError(503, 'FCGID_PING_FAILED', `no answer from ${results.filter((r) => !r.ok).map((r) => r.pool).join(', ')}`, { results });
    return { results };
  }

  private async request(name: string, body: Record<string, unknown>): Promise<FastCGIResponse> {
    this.sup.checkPool(name); // an unknown pool is a 404 naming the known ones
    const path = typeof body.path === 'string' ? body.path : '/';
    const data = typeof body.body === 'string' ? Buffer.from(body.body, 'base64') : undefined;
    const headers = isStringMap(body.headers) ? body.headers : {};
    const extra = isStringMap(body.params) ? body.params : {};
    const timeout = optionalInteger(body, 'timeout_ms', 1, MAX_REQUEST_TIMEOUT_MS) ?? 30_000;
    let web: WebConfig;
    try {
      web = overrideWeb(this.sup.config.pools.find((p) => p.name === name)!.web, body);
    } catch (err) {
      throw new HttpError(400, 'FCGID_BAD_REQUEST', (err as Error).message);
    }
    const client = new FastCGIClient({ address: this.sup.addressOf(name), keepConn: false, timeout });
    try {
      const r = await client.fetch({
        params: webParams(web, { method: typeof body.method === 'string' ? body.method : 'GET', url: path, headers, contentLength: data?.length, params: extra }),
        body: data,
      });
      return {
        status: r.status,
        status_text: r.statusText,
        headers: r.rawHeaders,
        body: r.body.toString('base64'),
        stderr: r.stderr.toString('utf8'),
        app_status: r.appStatus,
      };
    } catch (err) {
      throw new HttpError(502, (err as { code?: string }).code ?? 'FCGI_ERROR', `pool ${name}: ${(err as Error).message}`);
    } finally {
      client.close();
    }
  }

  private logs(url: URL, req: http.IncomingMessage, res: http.ServerResponse): undefined {
    const pool = url.searchParams.get('pool');
    if (pool !== null) this.sup.checkPool(pool);
    const n = Number(url.searchParams.get('n') ?? 100);
    if (!Number.isInteger(n) || n < 0 || n > LOG_RING_SIZE * LIMITS.pools) {
      throw new HttpError(400, 'FCGID_BAD_REQUEST', `n must be a whole number from 0 to ${(LOG_RING_SIZE * LIMITS.pools).toLocaleString('en-US')}, got ${url.searchParams.get('n')}`);
    }
    const follow = url.searchParams.get('follow') === '1';
    if (follow && this.followers.size >= MAX_FOLLOWERS) {
      throw new HttpError(503, 'FCGID_BUSY', `${MAX_FOLLOWERS} followers of the log already; stop one (or read the log from journald or log.file)`);
    }
    res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
    const tail = this.sup.logbook.tail(pool, n);
    if (tail.length > 0) res.write(tail.map(entryLine).join(''));
    // A follower learns at once that it is in, even before the first entry.
    else if (follow) res.flushHeaders();
    if (!follow) {
      res.end();
      return;
    }
    this.followers.add(res);
    // The tail it asked for is not held against it: only what comes on top of it.
    const tailBytes = res.writableLength;
    const stop = this.sup.logbook.follow(pool, (line) => {
      // A follower that does not read is cut off, never buffered without bound or waited for.
      if (res.writableLength > tailBytes + FOLLOWER_BUFFER) res.destroy();
      else res.write(line);
    });
    req.socket.setTimeout(0);
    res.on('close', () => {
      stop();
      this.followers.delete(res);
    });
    return undefined;
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof CommandError) {
    const status = { FCGID_UNKNOWN_POOL: 404, FCGID_BAD_REQUEST: 400, FCGID_STOPPING: 409, FCGID_BUSY: 409, FCGID_RELOAD_FAILED: 422 }[err.code];
    return new HttpError(status, err.code, err.message, err.issues ? { issues: err.issues } : {});
  }
  return new HttpError(500, 'FCGID_INTERNAL', (err as Error)?.message ?? String(err));
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY) throw new HttpError(413, 'FCGID_TOO_LARGE', `request body over ${MAX_BODY} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, 'FCGID_TOO_LARGE', `request body over ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new HttpError(400, 'FCGID_BAD_JSON', `request body is not JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new HttpError(400, 'FCGID_BAD_JSON', 'request body must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

function optionalStrings(body: Record<string, unknown>, key: string): string[] {
  const v = body[key];
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new HttpError(400, 'FCGID_BAD_REQUEST', `"${key}" must be a list of pool names`);
  return v as string[];
}

/** An integer field within its bound (LIMITS), or a 400 that names the bound. */
function optionalInteger(body: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const v = body[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new HttpError(400, 'FCGID_BAD_REQUEST', `"${key}" must be an integer from ${min} to ${max.toLocaleString('en-US')}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function isStringMap(v: unknown): v is Record<string, string> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');
}

