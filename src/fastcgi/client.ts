// A FastCGI client: the web-server side of the protocol. Sends a request (params
// and a streamed body) over a unix or TCP socket and hands back STDOUT and STDERR
// as streams, the CGI head parsed, and END_REQUEST's statuses. Connections are
// kept (FCGI_KEEP_CONN) and reused, one request at a time each, as nginx does.

import net from 'node:net';
import { Readable } from 'node:stream';
import {
  ClientSession,
  ProtocolStatus,
  RecordType,
  Role,
  ValueName,
  encodeAbortRequest,
  encodeBeginRequest,
  encodeGetValues,
  encodeParams,
  encodeStream,
  encodeStreamEnd,
  protocolStatusName,
  type ClientSessionHandler,
  type PairInput,
} from '../protocol/index.js';
import { formatAddress, netOptions, parseAddress, type Address } from './address.js';
import { findHeadEnd, parseHead, type ResponseHead } from './cgi-head.js';
import {
  ConnectError,
  ConnectTimeoutError,
  ConnectionClosedError,
  InactivityTimeoutError,
  RequestAbortedError,
  RequestRejectedError,
  ResponseHeadError,
} from './errors.js';

export interface ClientOptions {
  /** unix:/path, /path, tcp://host:port, host:port, or a port on 127.0.0.1. */
  address: string | number | Address;
  /** Ask the application to keep connections open and reuse them. Default true. */
  keepConn?: boolean;
  /** Idle connections kept for reuse. Default 16. */
  maxIdle?: number;
  /** Default 5000 ms. */
  connectTimeout?: number;
  /** Abort when the application sends nothing for this long; 0 disables. Default 60000 ms. */
  timeout?: number;
}

export type Body = string | Uint8Array | Readable | AsyncIterable<Uint8Array | string>;

export interface ExchangeOptions {
  params: PairInput;
  /** STDIN content; streamed with back-pressure when a stream. */
  body?: Body | null;
  role?: number;
  signal?: AbortSignal;
}

export interface EndStatus {
  appStatus: number;
  protocolStatus: number;
}

/** A raw exchange: STDOUT and STDERR as streams, END_REQUEST as a promise. */
export interface Exchange {
  stdout: Readable;
  stderr: Readable;
  end: Promise<EndStatus>;
}

export interface ClientResponse extends ResponseHead {
  /** STDOUT after the CGI head. */
  body: Readable;
  stderr: Readable;
  end: Promise<EndStatus>;
}

export interface FetchResult extends ResponseHead, EndStatus {
  body: Buffer;
  stderr: Buffer;
}

/** Largest CGI head accepted before the blank line. */
const MAX_HEAD = 64 * 1024;
/** How long an aborted request waits for END_REQUEST before the connection is dropped. */
const ABORT_GRACE_MS = 1000;

export class FastCGIClient {
  readonly address: Address;
  readonly label: string;
  private readonly keepConn: boolean;
  private readonly maxIdle: number;
  private readonly connectTimeout: number;
  readonly timeout: number;
  private readonly idle: Connection[] = [];
  private closed = false;

  constructor(options: ClientOptions) {
    this.address = parseAddress(options.address);
    this.label = formatAddress(this.address);
    this.keepConn = options.keepConn ?? true;
    this.maxIdle = options.maxIdle ?? 16;
    this.connectTimeout = options.connectTimeout ?? 5000;
    this.timeout = options.timeout ?? 60_000;
  }

  /** Send a request; resolves once it is on its way, with the raw output streams. */
  exchange(options: ExchangeOptions): Promise<Exchange> {
    return this.start(options, false);
  }

  private async start(options: ExchangeOptions, parseHead: boolean, fresh = false): Promise<Started> {
    const replayable = options.body == null || typeof options.body === 'string' || options.body instanceof Uint8Array;
    let conn = fresh ? undefined : this.idle.pop();
    if (conn) {
      // A kept connection may have been closed by the application meanwhile
      // (php-cgi exits after PHP_FCGI_MAX_REQUESTS); retry once on a fresh one.
      const result = conn.start(options, this.keepConn, parseHead);
      if (result) return replayable ? { ...result, retryable: () => !result.answered() } : result;
      if (!replayable) throw new ConnectionClosedError(this.label);
      conn = undefined;
    }
    conn = await this.connect();
    const result = conn.start(options, this.keepConn, parseHead);
    if (!result) throw new ConnectionClosedError(this.label, ' (right after connecting)');
    return result;
  }

  /** Send a request and parse the CGI head; the body stays a stream. */
  async request(options: ExchangeOptions): Promise<ClientResponse> {
    let started = await this.start(options, true);
    let head: ResponseHead;
    try {
      head = await started.head!;
    } catch (err) {
      // The close of a kept connection can cross our next request on the wire
      // (php-cgi exits after PHP_FCGI_MAX_REQUESTS; uWSGI 2.0 closes after every
      // request despite FCGI_KEEP_CONN). Nothing came back, so send it once more
      // on a fresh connection, as nginx does for a cached upstream connection.
      if (!(err instanceof ConnectionClosedError) || !started.retryable?.()) throw err;
      started = await this.start(options, true, true);
      head = await started.head!;
    }
    return { ...head, body: started.stdout, stderr: started.stderr, end: started.end };
  }

  /** Send a request and collect everything. */
  async fetch(options: ExchangeOptions): Promise<FetchResult> {
    const res = await this.request(options);
    const [body, stderr, end] = await Promise.all([collect(res.body), collect(res.stderr), res.end]);
    return { status: res.status, statusText: res.statusText, headers: res.headers, rawHeaders: res.rawHeaders, body, stderr, ...end };
  }

  /** FCGI_GET_VALUES (§4.1) on a connection of its own. */
  async getValues(
    names: readonly string[] = [ValueName.MAX_CONNS, ValueName.MAX_REQS, ValueName.MPXS_CONNS],
  ): Promise<Map<string, string>> {
    const conn = await this.connect();
    try {
      return await conn.getValues(names);
    } finally {
      conn.destroy();
    }
  }

  /** Close idle connections; requests in flight finish. */
  close(): void {
    this.closed = true;
    for (const conn of this.idle.splice(0)) conn.destroy();
  }

  /** Called by a connection whose request finished cleanly with keep-conn. */
  release(conn: Connection): void {
    if (this.closed || this.idle.length >= this.maxIdle) conn.destroy();
    else this.idle.push(conn);
  }

  /** Called by a connection that closed while idle. */
  forget(conn: Connection): void {
    const i = this.idle.indexOf(conn);
    if (i !== -1) this.idle.splice(i, 1);
  }

  private connect(): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(netOptions(this.address));
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ConnectTimeoutError(this.label, this.connectTimeout));
      }, this.connectTimeout);
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new ConnectError(this.label, err));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new Connection(this, socket));
      });
    });
  }
}

const REQUEST_ID = 1;

/** A request on its way, as a connection hands it to the client. */
interface Started extends Exchange {
  head?: Promise<ResponseHead>;
  /** Whether any record for the request has come back. */
  answered(): boolean;
  /** Set when the request may be sent again on a fresh connection if this one closes unanswered. */
  retryable?: () => boolean;
}

/** One socket to the application, one request at a time. */
class Connection implements ClientSessionHandler {
  private readonly client: FastCGIClient;
  private readonly socket: net.Socket;
  private readonly session: ClientSession;
  private current: Pending | null = null;
  private valuesWaiter: ((values: Map<string, string>) => void) | null = null;
  private dead = false;

  constructor(client: FastCGIClient, socket: net.Socket) {
    this.client = client;
    this.socket = socket;
    this.session = new ClientSession(this);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.session.push(chunk);
      } catch (err) {
        this.fail(err as Error);
      }
    });
    socket.on('end', () => this.fail(new ConnectionClosedError(client.label)));
    socket.on('close', () => this.fail(new ConnectionClosedError(client.label)));
    socket.on('error', (err) => this.fail(new ConnectionClosedError(client.label, `: ${err.message}`)));
    socket.on('timeout', () => {
      // A GET_VALUES waits too: fcgiwrap (libfcgi) never answers one sent before a request.
      if (this.current || this.failValues) this.fail(new InactivityTimeoutError(client.label, client.timeout));
    });
  }

  /** Start a request; null when the connection turned out to be closed. */
  start(options: ExchangeOptions, keepConn: boolean, parseHead: boolean): Started | null {
    if (this.dead || this.socket.destroyed || !this.socket.writable) {
      this.destroy();
      return null;
    }
    const pending = new Pending(this, keepConn, parseHead);
    this.current = pending;
    this.session.begin(REQUEST_ID);
    if (this.client.timeout > 0) this.socket.setTimeout(this.client.timeout);
    this.socket.cork();
    this.socket.write(encodeBeginRequest(REQUEST_ID, options.role ?? Role.RESPONDER, keepConn));
    this.socket.write(encodeParams(REQUEST_ID, options.params));
    const body = options.body;
    if (body == null || typeof body === 'string' || body instanceof Uint8Array) {
      const data = body == null ? null : typeof body === 'string' ? Buffer.from(body) : toBuffer(body);
      if (data && data.length > 0) this.socket.write(encodeStream(RecordType.STDIN, REQUEST_ID, data));
      this.socket.write(encodeStreamEnd(RecordType.STDIN, REQUEST_ID));
      this.socket.uncork();
    } else {
      this.socket.uncork();
      void this.pumpBody(body, pending);
    }
    if (options.signal) {
      const signal = options.signal;
      if (signal.aborted) this.abort(pending);
      else {
        const onAbort = (): void => this.abort(pending);
        signal.addEventListener('abort', onAbort, { once: true });
        pending.end.finally(() => signal.removeEventListener('abort', onAbort)).catch(() => {});
      }
    }
    return { stdout: pending.stdout, stderr: pending.stderr, end: pending.end, head: pending.head, answered: () => pending.answered };
  }

  getValues(names: readonly string[]): Promise<Map<string, string>> {
    return new Promise((resolve, reject) => {
      this.valuesWaiter = resolve;
      this.failValues = reject;
      if (this.client.timeout > 0) this.socket.setTimeout(this.client.timeout);
      this.socket.write(encodeGetValues(names));
    });
  }

  private failValues: ((err: Error) => void) | null = null;

  destroy(): void {
    this.dead = true;
    this.socket.destroy();
  }

  // --- ClientSessionHandler ---

  onStdout(_id: number, chunk: Buffer): void {
    const p = this.current;
    if (!p) return;
    p.answered = true;
    if (chunk.length === 0) return;
    if (!p.output(chunk)) this.socket.pause();
  }

  onStderr(_id: number, chunk: Buffer): void {
    if (this.current) this.current.answered = true;
    if (chunk.length > 0) this.current?.stderr.push(chunk);
  }

  onEnd(_id: number, appStatus: number, protocolStatus: number): void {
    const p = this.current;
    if (!p) return;
    this.current = null;
    this.socket.setTimeout(0);
    if (p.aborted) {
      this.destroy();
      return;
    }
    p.finish(appStatus, protocolStatus, this.client.label);
    if (p.keepConn && protocolStatus === ProtocolStatus.REQUEST_COMPLETE && !p.bodyPumping) this.client.release(this);
    else this.destroy();
  }

  onValues(values: Map<string, string>): void {
    this.socket.setTimeout(0);
    this.valuesWaiter?.(values);
    this.valuesWaiter = null;
    this.failValues = null;
  }

  onUnknownType(): void {
    // We only send GET_VALUES, which every application must know (§4.1).
  }

  resume(): void {
    this.socket.resume();
  }

  private async pumpBody(body: Readable | AsyncIterable<Uint8Array | string>, pending: Pending): Promise<void> {
    pending.bodyPumping = true;
    try {
      for await (const chunk of body) {
        if (pending.settled || this.dead) return;
        const data = typeof chunk === 'string' ? Buffer.from(chunk) : toBuffer(chunk);
        if (data.length === 0) continue;
        if (!this.socket.write(encodeStream(RecordType.STDIN, REQUEST_ID, data))) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              this.socket.off('drain', done);
              this.socket.off('close', done);
              resolve();
            };
            this.socket.on('drain', done);
            this.socket.on('close', done);
          });
        }
      }
      if (!pending.settled && !this.dead) this.socket.write(encodeStreamEnd(RecordType.STDIN, REQUEST_ID));
    } catch (err) {
      // The body stream failed: the request cannot be completed.
      this.fail(err as Error);
    } finally {
      pending.bodyPumping = false;
    }
  }

  private abort(pending: Pending): void {
    if (pending.settled || pending.aborted) return;
    pending.aborted = true;
    pending.fail(new RequestAbortedError());
    if (!this.dead) {
      // §5.4: ask the application to stop, then give it a moment to say END_REQUEST.
      this.socket.write(encodeAbortRequest(REQUEST_ID));
      setTimeout(() => this.destroy(), ABORT_GRACE_MS).unref();
    }
  }

  private fail(err: Error): void {
    const wasDead = this.dead;
    this.dead = true;
    const p = this.current;
    this.current = null;
    if (p) p.fail(err);
    if (this.failValues) {
      this.failValues(err);
      this.failValues = null;
      this.valuesWaiter = null;
    }
    if (!wasDead) this.client.forget(this);
    this.socket.destroy();
  }
}

class Pending {
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly end: Promise<EndStatus>;
  readonly keepConn: boolean;
  settled = false;
  /** A record for this request came back. */
  answered = false;
  aborted = false;
  bodyPumping = false;
  /** The parsed CGI head, when asked for; STDOUT after it goes to `stdout`. */
  readonly head: Promise<ResponseHead> | undefined;
  private headBuffer: Buffer | null = null;
  private headDelivered = false;
  private resolveHead: ((h: ResponseHead) => void) | null = null;
  private rejectHead: ((e: Error) => void) | null = null;
  private resolveEnd!: (s: EndStatus) => void;
  private rejectEnd!: (e: Error) => void;

  constructor(conn: Connection, keepConn: boolean, parseHead: boolean) {
    this.keepConn = keepConn;
    if (parseHead) {
      this.headBuffer = Buffer.alloc(0);
      this.head = new Promise((resolve, reject) => {
        this.resolveHead = resolve;
        this.rejectHead = reject;
      });
      this.head.catch(() => {});
    }
    this.stdout = new Readable({ read: () => conn.resume() });
    this.stderr = new Readable({ read: () => {} });
    this.end = new Promise((resolve, reject) => {
      this.resolveEnd = resolve;
      this.rejectEnd = reject;
    });
    // The caller may never look at `end` (when it reads the streams only).
    this.end.catch(() => {});
  }

  /** STDOUT bytes; false when the reader is full. */
  output(chunk: Buffer): boolean {
    if (this.headBuffer === null) return this.stdout.push(chunk);
    const buffered = this.headBuffer.length === 0 ? chunk : Buffer.concat([this.headBuffer, chunk]);
    const end = findHeadEnd(buffered);
    if (end === -1) {
      if (buffered.length > MAX_HEAD) {
        this.fail(new ResponseHeadError(`the CGI header section passed ${MAX_HEAD} bytes without a blank line`));
      } else {
        this.headBuffer = buffered;
      }
      return true;
    }
    this.headBuffer = null;
    try {
      this.resolveHead!(parseHead(buffered.toString('latin1', 0, end)));
      this.headDelivered = true;
    } catch (err) {
      this.fail(err as Error);
      return true;
    }
    return end < buffered.length ? this.stdout.push(buffered.subarray(end)) : true;
  }

  finish(appStatus: number, protocolStatus: number, label: string): void {
    if (this.settled) return;
    if (this.headBuffer !== null && protocolStatus === ProtocolStatus.REQUEST_COMPLETE) {
      const seen = this.headBuffer;
      this.fail(
        new ResponseHeadError(
          seen.length === 0
            ? 'the application ended its output without a CGI header section'
            : `the application's output has no blank line after its CGI headers: ${JSON.stringify(seen.subarray(0, 80).toString('latin1'))}`,
        ),
      );
      return;
    }
    this.settled = true;
    if (protocolStatus !== ProtocolStatus.REQUEST_COMPLETE) {
      const err = new RequestRejectedError(label, protocolStatus, protocolStatusName(protocolStatus));
      this.fail(err, true);
      return;
    }
    this.stdout.push(null);
    this.stderr.push(null);
    this.resolveEnd({ appStatus, protocolStatus });
  }

  fail(err: Error, force = false): void {
    if (this.settled && !force) return;
    this.settled = true;
    this.rejectHead?.(err);
    this.rejectEnd(err);
    // Before its head is parsed nobody holds STDOUT (request() rejects instead),
    // so an error emitted on it would be unhandled and take the process down.
    const held = this.head === undefined || this.headDelivered;
    if (!this.stdout.readableEnded) this.stdout.destroy(held ? err : undefined);
    if (!this.stderr.readableEnded) this.stderr.destroy();
  }
}

function toBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/** Gather a stream into one Buffer. */
export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
