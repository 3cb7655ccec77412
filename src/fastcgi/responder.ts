// A FastCGI responder: accepts connections from a web server (on a path, a
// host:port, or an inherited listening descriptor), runs a Node-style
// (req, res) handler per request, and speaks the application side of the
// protocol: FCGI_KEEP_CONN, multiplexing, ABORT_REQUEST, GET_VALUES,
// UNKNOWN_TYPE / UNKNOWN_ROLE, FCGI_WEB_SERVER_ADDRS, back-pressure both ways.

import { EventEmitter } from 'node:events';
import { fstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import {
  ProtocolStatus,
  ServerSession,
  ValueName,
  encodeEndRequest,
  encodeGetValuesResult,
  encodeUnknownType,
  type ServerSessionHandler,
  type ServerSessionOptions,
} from '../protocol/index.js';
import { netOptions, parseAddress, type Address } from './address.js';
import { clearStaleSocket } from './unix-socket.js';
import { FastCGIRequest, type RequestSource } from './request.js';
import { FastCGIResponse, type ResponseSink } from './response.js';

export type Handler = (req: FastCGIRequest, res: FastCGIResponse) => unknown;

/** The subset of a pino logger the responder uses; pino instances fit. */
export interface ResponderLogger {
  error(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface ResponderOptions extends ServerSessionOptions {
  /**
   * Web server addresses allowed to connect over TCP. Default: the comma-separated
   * FCGI_WEB_SERVER_ADDRS environment variable (libfcgi's convention); unset or
   * empty allows all. Unix-socket connections are not checked.
   */
  allowedClients?: readonly string[] | null;
  /** Answer to FCGI_MAX_CONNS, and the net.Server connection cap. Default 1024. */
  maxConnections?: number;
  /**
   * The most bytes of request params held at once across all connections, for
   * requests whose params have not ended (a web server sends them whole at once;
   * a client that starts many and never finishes them would otherwise hold
   * memory without bound). Past it, the connection holding the most is closed.
   * Default 32 MiB.
   */
  maxBufferedParams?: number;
  logger?: ResponderLogger;
}

export const DEFAULT_MAX_BUFFERED_PARAMS = 32 * 1024 * 1024;

/** Where to listen: an address string, a port, `{ fd }` for an inherited socket. */
export type ListenTarget = string | number | Address | { fd: number };

/** Environment variable naming the listening descriptor of a Node-native worker under fcgid. */
export const LISTEN_FD_ENV = 'FCGID_LISTEN_FD';

/** How long close() waits for the first request of a connection accepted just before it. */
const FRESH_CONNECTION_GRACE_MS = 1000;

const stderrLogger: ResponderLogger = {
  error: (fields, message) => process.stderr.write(`${message} ${JSON.stringify(fields)}\n`),
  warn: (fields, message) => process.stderr.write(`${message} ${JSON.stringify(fields)}\n`),
};

export class Responder extends EventEmitter {
  readonly handler: Handler;
  readonly options: ResponderOptions;
  readonly logger: ResponderLogger;
  private readonly allowed: Set<string> | null;
  private readonly server: net.Server;
  private readonly connections = new Set<Connection>();
  /** Params bytes held by every connection together (see maxBufferedParams). */
  private buffered = 0;
  private closing = false;
  private unixPath: string | null = null;

  constructor(handler: Handler, options: ResponderOptions = {}) {
    super();
    this.handler = handler;
    this.options = options;
    this.logger = options.logger ?? stderrLogger;
    const allowed = options.allowedClients ?? parseAllowed(process.env.FCGI_WEB_SERVER_ADDRS);
    this.allowed = allowed && allowed.length > 0 ? new Set(allowed.map(normalizeIp)) : null;
    // allowHalfOpen: end-of-input is handled by the connection itself (it aborts
    // the requests in flight), instead of Node ending our side behind its back.
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
    this.server.maxConnections = options.maxConnections ?? 1024;
    // While listen() is pending its promise carries the error; re-emitting it too
    // would throw from server.emit (no 'error' listener yet) before listen() rejects.
    this.server.on('error', (err) => {
      if (!this.listening) this.emit('error', err);
    });
  }

  /** A listen() call is in progress. */
  private listening = false;

  /**
   * Start listening. With no target: the descriptor named by FCGID_LISTEN_FD, else
   * fd 0 when it is a socket (FCGI_LISTENSOCK_FILENO: how fcgid, spawn-fcgi and
   * mod_fcgid hand over the listener).
   */
  listen(target?: ListenTarget): Promise<void> {
    const resolved = target ?? listenTargetFromEnvironment();
    let unixPath: string | null = null;
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        this.listening = false;
        this.server.off('listening', onListening);
        reject(err);
      };
      const onListening = (): void => {
        this.listening = false;
        // Only a path we bound is ours to unlink on close(); after EADDRINUSE it is another server's.
        this.unixPath = unixPath;
        this.server.off('error', onError);
        resolve();
      };
      this.server.once('error', onError);
      this.server.once('listening', onListening);
      if (typeof resolved === 'object' && 'fd' in resolved) {
        this.listening = true;
        this.server.listen({ fd: resolved.fd });
        return;
      }
      const address = parseAddress(resolved);
      this.listening = true;
      if (address.kind === 'unix') {
        unixPath = address.path;
        // A stale file is replaced; a live one is left alone, and listen fails with EADDRINUSE.
        clearStaleSocket(address.path).then(
          () => this.server.listen({ path: address.path }),
          (err: Error) => onError(err),
        );
      } else {
        try {
          this.server.listen(netOptions(address));
        } catch (err) {
          onError(err as NodeJS.ErrnoException);
        }
      }
    });
  }

  /** Params bytes held for unfinished requests, all connections together. */
  get bufferedParams(): number {
    return this.buffered;
  }

  /**
   * A connection's held params changed by `delta`. Past the budget, the
   * connections holding the most are closed until it is met again: the largest
   * offender goes first, whichever connection crossed the line.
   */
  account(delta: number): void {
    this.buffered += delta;
    const limit = this.options.maxBufferedParams ?? DEFAULT_MAX_BUFFERED_PARAMS;
    while (this.buffered > limit) {
      let worst: Connection | null = null;
      for (const c of this.connections) if (!c.shed && (worst === null || c.buffered > worst.buffered)) worst = c;
      if (worst === null || worst.buffered === 0) return;
      this.logger.warn(
        { remote: worst.remote, buffered: worst.buffered, limit },
        `closing the FastCGI connection that holds the most unfinished request params (${worst.buffered} bytes): the worker's budget for them is ${limit} bytes (maxBufferedParams)`,
      );
      this.buffered -= worst.buffered;
      worst.shedNow();
    }
  }

  address(): ReturnType<net.Server['address']> {
    return this.server.address();
  }

  /** Requests in progress, over all connections. */
  get activeRequests(): number {
    let n = 0;
    for (const c of this.connections) n += c.active;
    return n;
  }

  /**
   * Stop accepting; idle connections close now, busy ones after their last
   * request, and one accepted just before whose first request has not been read
   * yet after serving it (or after a second without one). Resolves when every
   * connection is gone.
   */
  close(): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.connections) c.closeWhenIdle();
    if (this.unixPath) {
      try {
        unlinkSync(this.unixPath);
      } catch {
        // already gone
      }
    }
    return closed;
  }

  get isClosing(): boolean {
    return this.closing;
  }

  private accept(socket: net.Socket): void {
    if (this.allowed && socket.remoteAddress && !this.allowed.has(normalizeIp(socket.remoteAddress))) {
      this.logger.warn(
        { remote: socket.remoteAddress },
        'refused a connection from an address not in FCGI_WEB_SERVER_ADDRS',
      );
      socket.destroy();
      return;
    }
    const conn = new Connection(this, socket);
    this.connections.add(conn);
    socket.once('close', () => {
      this.connections.delete(conn);
      this.account(-conn.buffered);
      conn.buffered = 0;
    });
    // Like http.Server's 'connection': lets callers see how a web server uses
    // its connections (FCGI_KEEP_CONN reuse, one per request without it).
    this.emit('connection', socket);
  }
}

interface RequestEntry {
  role: number;
  keepConn: boolean;
  req: FastCGIRequest | null;
  res: FastCGIResponse | null;
}

/** One web-server connection: a ServerSession wired to a socket. */
class Connection implements ServerSessionHandler, RequestSource, ResponseSink {
  private readonly owner: Responder;
  private readonly socket: net.Socket;
  private readonly session: ServerSession;
  private readonly requests = new Map<number, RequestEntry>();
  /** Requests whose body reader is full; while any is, the socket is paused. */
  private readonly pausedBy = new Set<number>();
  private closeAfterIdle = false;
  /** A BEGIN_REQUEST has come in on this connection. */
  private begun = false;
  private graceTimer: NodeJS.Timeout | null = null;
  /** Params bytes this connection's session holds, as last told to the responder. */
  buffered = 0;
  /** Closed for the memory budget: its bytes are no longer counted. */
  shed = false;

  constructor(owner: Responder, socket: net.Socket) {
    this.owner = owner;
    this.socket = socket;
    this.session = new ServerSession(this, owner.options);
    socket.on('data', (chunk: Buffer) => this.onSocketData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('close', () => this.onClose());
    socket.on('error', () => {
      // ECONNRESET and the like: 'close' follows and aborts the requests.
    });
  }

  get active(): number {
    return this.requests.size;
  }

  closeWhenIdle(): void {
    this.closeAfterIdle = true;
    if (this.requests.size > 0) return;
    if (this.begun) {
      // Idle between requests: a web server reusing it retries on a fresh connection.
      this.socket.end();
      return;
    }
    // Accepted, but its first request not read yet: the web server sent it right
    // after connecting (it may sit unread in the socket buffer) and has no reason to
    // think it was refused, so serve it; done() closes after it. Closing now fails
    // it (seen: restarts of fcgid under load). One that sends nothing is closed
    // after a grace, so that close() still ends.
    this.graceTimer = setTimeout(() => {
      if (this.requests.size === 0 && !this.socket.writableEnded) this.socket.end();
    }, FRESH_CONNECTION_GRACE_MS);
  }

  // --- socket events ---

  get remote(): string | undefined {
    return this.socket.remoteAddress;
  }

  /** Closed for the responder's memory budget (Responder.account). */
  shedNow(): void {
    this.shed = true;
    this.buffered = 0;
    this.socket.destroy();
  }

  private onSocketData(chunk: Buffer): void {
    try {
      this.session.push(chunk);
      if (!this.shed && this.session.bufferedParams !== this.buffered) {
        const delta = this.session.bufferedParams - this.buffered;
        this.buffered = this.session.bufferedParams;
        this.owner.account(delta);
      }
    } catch (err) {
      this.owner.logger.error(
        { err: { code: (err as { code?: string }).code, message: (err as Error).message }, remote: this.socket.remoteAddress },
        'closing a FastCGI connection after malformed input',
      );
      this.socket.destroy();
    }
  }

  private onEnd(): void {
    try {
      this.session.end();
    } catch {
      // Truncated input: the requests in flight cannot complete.
      this.socket.destroy();
      return;
    }
    // §5.4: a web server that does not multiplex aborts a request by closing the
    // connection, and that is what nginx does when its client hangs up (it never
    // sends ABORT_REQUEST). None of nginx, Apache, lighttpd or cgi-fcgi shuts down
    // its side while it still waits for a response, so end-of-input aborts every
    // request in flight: a handler learns at once, not at its next write.
    for (const id of [...this.requests.keys()]) this.onAbort(id);
    // Our side may already be ended (done() ends it after the last request without
    // FCGI_KEEP_CONN); ending it twice makes Node build an ERR_STREAM_ALREADY_FINISHED
    // error, stack trace included, for every such connection.
    if (this.requests.size === 0) {
      if (!this.socket.writableEnded) this.socket.end();
    } else this.closeAfterIdle = true;
  }

  private onClose(): void {
    if (this.graceTimer) clearTimeout(this.graceTimer);
    for (const [id, entry] of this.requests) {
      // Response first: a handler reacting to 'aborted' finds it already destroyed.
      entry.res?.markDestroyed();
      entry.req?.markAborted();
      this.session.finish(id);
    }
    this.requests.clear();
    this.pausedBy.clear();
  }

  // --- ServerSessionHandler ---

  onBegin(requestId: number, role: number, keepConn: boolean): void {
    this.begun = true;
    this.requests.set(requestId, { role, keepConn, req: null, res: null });
  }

  onParams(requestId: number, params: Map<string, string>): void {
    const entry = this.requests.get(requestId)!;
    const req = new FastCGIRequest(this, requestId, entry.role, entry.keepConn, params);
    const res = new FastCGIResponse(this, requestId);
    entry.req = req;
    entry.res = res;
    this.run(req, res);
  }

  onStdin(requestId: number, chunk: Buffer): void {
    const req = this.requests.get(requestId)?.req;
    if (!req || req.destroyed) return;
    if (chunk.length === 0) {
      req.push(null);
      return;
    }
    if (!req.push(chunk)) {
      this.pausedBy.add(requestId);
      this.socket.pause();
    }
  }

  onData(requestId: number, chunk: Buffer): void {
    // FILTER's DATA stream (§6.4) arrives as 'filter-data' events; an empty chunk ends it.
    this.requests.get(requestId)?.req?.emit('filter-data', chunk);
  }

  onAbort(requestId: number): void {
    const entry = this.requests.get(requestId);
    if (!entry) return;
    // Response first, so a handler that ends it from its 'aborted' listener cannot
    // send a second END_REQUEST for this id (regression: duplicate END_REQUEST).
    entry.res?.markDestroyed();
    entry.req?.markAborted();
    // §5.4: the application answers an abort with END_REQUEST.
    this.send(encodeEndRequest(requestId, 0, ProtocolStatus.REQUEST_COMPLETE));
    this.done(requestId);
  }

  onReject(requestId: number, protocolStatus: number): void {
    this.socket.write(encodeEndRequest(requestId, 0, protocolStatus));
  }

  onGetValues(names: string[]): void {
    const known: Record<string, string> = {
      [ValueName.MAX_CONNS]: String(this.owner.options.maxConnections ?? 1024),
      [ValueName.MAX_REQS]: String(
        (this.owner.options.maxConnections ?? 1024) * this.session.maxConcurrentRequests,
      ),
      [ValueName.MPXS_CONNS]: this.session.multiplex ? '1' : '0',
    };
    // §4.1: the reply carries only the variables the application knows.
    this.socket.write(encodeGetValuesResult(names.filter((n) => n in known).map((n) => [n, known[n]!] as const)));
  }

  onUnknownType(type: number): void {
    this.socket.write(encodeUnknownType(type));
  }

  // --- RequestSource / ResponseSink ---

  resumeFor(requestId: number): void {
    if (this.pausedBy.delete(requestId) && this.pausedBy.size === 0) this.socket.resume();
  }

  send(data: Buffer, callback?: (err?: Error | null) => void): boolean {
    if (this.socket.destroyed) {
      if (callback) process.nextTick(callback, new Error('the connection to the web server is closed'));
      return false;
    }
    return this.socket.write(data, callback);
  }

  onceDrain(listener: () => void): void {
    this.socket.once('drain', listener);
  }

  done(requestId: number): void {
    const entry = this.requests.get(requestId);
    if (!entry) return;
    this.requests.delete(requestId);
    this.session.finish(requestId);
    // Like Node's http: a body the handler never read is dropped, and the
    // connection goes on (its remaining STDIN records are for an inactive id).
    this.resumeFor(requestId);
    if (entry.req && !entry.req.readableEnded) entry.req.resume();
    if ((!entry.keepConn || this.closeAfterIdle || this.owner.isClosing) && this.requests.size === 0) {
      // §5.1: without FCGI_KEEP_CONN the application closes the connection.
      this.socket.end();
    }
  }

  private run(req: FastCGIRequest, res: FastCGIResponse): void {
    const fail = (err: unknown): void => this.handlerFailed(req, res, err);
    try {
      const result = this.owner.handler(req, res);
      if (result && typeof (result as Promise<unknown>).then === 'function') {
        (result as Promise<unknown>).then(undefined, fail);
      }
    } catch (err) {
      fail(err);
    }
  }

  private handlerFailed(req: FastCGIRequest, res: FastCGIResponse, err: unknown): void {
    this.owner.logger.error(
      { err: { message: (err as Error)?.message ?? String(err), stack: (err as Error)?.stack }, method: req.method, url: req.url },
      'request handler threw; answered 500',
    );
    if (res.writableEnded || res.destroyed) return;
    if (!res.headersSent) {
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      res.statusCode = 500;
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.end('Internal Server Error\n');
    } else {
      // The head is out: all we can do is cut the body short and say so in appStatus.
      res.appStatus = 1;
      res.end();
    }
  }
}

function parseAllowed(value: string | undefined): string[] | null {
  if (!value) return null;
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** `::ffff:127.0.0.1` (an IPv4 client on a dual-stack socket) compares as `127.0.0.1`. */
function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

export function listenTargetFromEnvironment(env: NodeJS.ProcessEnv = process.env): { fd: number } {
  const named = env[LISTEN_FD_ENV];
  if (named !== undefined) {
    const fd = Number(named);
    if (!Number.isInteger(fd) || fd < 0) throw new Error(`${LISTEN_FD_ENV}=${named} is not a file descriptor number`);
    return { fd };
  }
  let isSocket = false;
  try {
    isSocket = fstatSync(0).isSocket();
  } catch {
    // fd 0 closed
  }
  if (!isSocket) {
    throw new Error(
      'no listening socket: fd 0 is not a socket and FCGID_LISTEN_FD is unset; pass an address (unix:/path or tcp://host:port) or run under fcgid',
    );
  }
  return { fd: 0 };
}

export function createResponder(handler: Handler, options?: ResponderOptions): Responder {
  return new Responder(handler, options);
}
