// Raw FastCGI peers for the integration tests of src/fastcgi: a web-server side
// that writes records byte by byte as the test composes them (interleaved ids,
// ABORT_REQUEST at a chosen moment, malformed input, unknown types), and an
// application side whose every reply byte the test chooses (CGI heads the
// responder would never produce, END_REQUEST statuses, silence). Both parse
// with src/protocol and record what they saw; nothing here waits on a timer.

import net from 'node:net';
import {
  ProtocolStatus,
  RecordParser,
  RecordType,
  ServerSession,
  encodeEndRequest,
  encodeStream,
  encodeStreamEnd,
  recordTypeName,
  type ServerSessionHandler,
} from '../../src/protocol/index.js';

export interface WireRecord {
  type: number;
  requestId: number;
  content: Buffer;
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Resolve once `condition()` holds, checking once per event-loop turn; reject
 * after `deadlineMs` (a bound on a wait, not a pause).
 */
export async function until(condition: () => boolean, what: string, deadlineMs = 15_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

type Waiter = { match: (r: WireRecord) => boolean; resolve: (r: WireRecord) => void; reject: (e: Error) => void };

/** The web-server side of one connection, driven record by record. */
export class RawWebServer {
  readonly socket: net.Socket;
  readonly records: WireRecord[] = [];
  /** Resolves when the peer ended its side (FIN) or the socket closed. */
  readonly ended: Promise<void>;
  readonly closed: Promise<void>;
  parseError: Error | null = null;
  private readonly parser: RecordParser;
  private waiters: Waiter[] = [];
  private finished = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.parser = new RecordParser((type, requestId, content) => {
      // Content may be a view of the socket's chunk; keep a copy of our own.
      const record = { type, requestId, content: Buffer.from(content) };
      this.records.push(record);
      this.waiters = this.waiters.filter((w) => (w.match(record) ? (w.resolve(record), false) : true));
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        this.parser.push(chunk);
      } catch (err) {
        this.parseError = err as Error;
        socket.destroy();
      }
    });
    socket.on('error', () => {
      // ECONNRESET from a peer that destroyed the connection: 'close' follows.
    });
    const ended = deferred();
    const closed = deferred();
    socket.once('end', () => ended.resolve());
    socket.once('close', () => {
      ended.resolve();
      closed.resolve();
      this.finished = true;
      for (const w of this.waiters.splice(0)) w.reject(new Error(`connection closed; records seen: ${this.describe()}`));
    });
    this.ended = ended.promise;
    this.closed = closed.promise;
  }

  static connect(target: { path: string } | { host: string; port: number }): Promise<RawWebServer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(target);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawWebServer(socket));
      });
    });
  }

  send(...parts: Buffer[]): void {
    this.socket.write(Buffer.concat(parts));
  }

  /** The first record (already seen or still to come) that matches. */
  waitFor(match: (r: WireRecord) => boolean, what = 'a record'): Promise<WireRecord> {
    const seen = this.records.find(match);
    if (seen) return Promise.resolve(seen);
    if (this.finished) return Promise.reject(new Error(`connection closed before ${what}; records seen: ${this.describe()}`));
    return new Promise((resolve, reject) => this.waiters.push({ match, resolve, reject }));
  }

  /** END_REQUEST of `requestId`, decoded (§5.5). */
  async endOf(requestId: number): Promise<{ appStatus: number; protocolStatus: number }> {
    const r = await this.waitFor((x) => x.type === RecordType.END_REQUEST && x.requestId === requestId, `END_REQUEST ${requestId}`);
    return { appStatus: r.content.readUInt32BE(0), protocolStatus: r.content[4]! };
  }

  /** Everything received on a stream of `requestId` so far. */
  stream(type: number, requestId: number): Buffer {
    return Buffer.concat(this.records.filter((r) => r.type === type && r.requestId === requestId).map((r) => r.content));
  }

  /** Types received for `requestId`, in order, by name (END_REQUEST, STDOUT...). */
  typesOf(requestId: number): string[] {
    return this.records.filter((r) => r.requestId === requestId).map((r) => recordTypeName(r.type));
  }

  describe(): string {
    return this.records.map((r) => `${recordTypeName(r.type)}#${r.requestId}(${r.content.length})`).join(' ') || 'none';
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Split a CGI/HTTP-style response from STDOUT: head text and body bytes. */
export function splitCgi(stdout: Buffer): { head: string; body: Buffer } {
  const at = stdout.indexOf('\r\n\r\n');
  if (at === -1) throw new Error(`no blank line in ${JSON.stringify(stdout.subarray(0, 200).toString('latin1'))}`);
  return { head: stdout.toString('latin1', 0, at), body: stdout.subarray(at + 4) };
}

export interface FakeRequest {
  socket: net.Socket;
  requestId: number;
  keepConn: boolean;
  params: Map<string, string>;
  body: Buffer;
  aborted: boolean;
}

/**
 * An application whose answers are scripted: `onRequest` runs once a request's
 * STDIN has ended and replies with `reply()` (or not at all).
 */
export class FakeApp {
  readonly server: net.Server;
  readonly sockets = new Set<net.Socket>();
  readonly requests: FakeRequest[] = [];
  connections = 0;
  onRequest: (req: FakeRequest) => void = () => {};
  onAbort: (req: FakeRequest) => void = () => {};

  constructor() {
    this.server = net.createServer((socket) => this.accept(socket));
  }

  listen(path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ path }, () => resolve());
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    this.connections++;
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    const live = new Map<number, FakeRequest & { chunks: Buffer[] }>();
    const handler: ServerSessionHandler = {
      onBegin: (requestId, _role, keepConn) => {
        live.set(requestId, { socket, requestId, keepConn, params: new Map(), body: Buffer.alloc(0), aborted: false, chunks: [] });
      },
      onParams: (id, params) => {
        live.get(id)!.params = params;
      },
      onStdin: (id, chunk) => {
        const req = live.get(id)!;
        if (chunk.length > 0) return void req.chunks.push(Buffer.from(chunk));
        req.body = Buffer.concat(req.chunks);
        this.requests.push(req);
        this.onRequest(req);
      },
      onData: () => {},
      onAbort: (id) => {
        const req = live.get(id)!;
        req.aborted = true;
        this.onAbort(req);
      },
      onReject: () => {},
      onGetValues: () => {},
      onUnknownType: () => {},
    };
    const session = new ServerSession(handler);
    this.sessions.set(socket, session);
    socket.on('data', (chunk: Buffer) => session.push(chunk));
  }

  private readonly sessions = new WeakMap<net.Socket, ServerSession>();

  /** Answer `req` with STDOUT bytes, optional STDERR, and END_REQUEST. */
  reply(
    req: FakeRequest,
    stdout: string | Buffer,
    options: { stderr?: string; appStatus?: number; protocolStatus?: number; close?: boolean } = {},
  ): void {
    const out = typeof stdout === 'string' ? Buffer.from(stdout, 'latin1') : stdout;
    const parts: Buffer[] = [];
    if (out.length > 0) parts.push(encodeStream(RecordType.STDOUT, req.requestId, out));
    parts.push(encodeStreamEnd(RecordType.STDOUT, req.requestId));
    if (options.stderr) parts.push(encodeStream(RecordType.STDERR, req.requestId, Buffer.from(options.stderr), true));
    parts.push(encodeEndRequest(req.requestId, options.appStatus ?? 0, options.protocolStatus ?? ProtocolStatus.REQUEST_COMPLETE));
    // §3.3: END_REQUEST makes the id inactive; the session must know, as for a real app.
    this.sessions.get(req.socket)?.finish(req.requestId);
    req.socket.write(Buffer.concat(parts));
    if (options.close) req.socket.end();
  }
}
