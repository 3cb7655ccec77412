// Our responder over real sockets (unix sockets in a scratch dir, TCP on
// 127.0.0.1), in-process, without a web server. FastCGIClient drives the
// ordinary cases; a raw connection writes the records it cannot produce
// (interleaved ids, ABORT_REQUEST at a chosen moment, unknown types, malformed
// bytes) and reads the answer record by record. Section numbers are the
// FastCGI 1.0 specification's.

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, statSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  FastCGIClient,
  cgiParams,
  createResponder,
  type FastCGIRequest,
  type FastCGIResponse,
  type Handler,
  type Responder,
  type ResponderLogger,
  type ResponderOptions,
} from '../../src/fastcgi/index.js';
import {
  ProtocolStatus,
  RecordParser,
  RecordType,
  Role,
  ValueName,
  decodePairs,
  encodeAbortRequest,
  encodeBeginRequest,
  encodeGetValues,
  encodePairs,
  encodeParams,
  encodeRecord,
  encodeStream,
} from '../../src/protocol/index.js';
import { RawWebServer, deferred, splitCgi, until, type Deferred } from '../helpers/fcgi-raw.js';
import { Processes, Scratch } from '../helpers/peers.js';

// ---------------------------------------------------------------------------
// Plumbing: every responder, client, raw socket and process a test opens is
// closed after it.

interface LogLine {
  level: 'error' | 'warn';
  fields: Record<string, unknown>;
  message: string;
}

type Target = { path: string } | { host: string; port: number };

interface Started {
  responder: Responder;
  address: string;
  target: Target;
  logs: LogLine[];
  /** Connections the responder accepted. */
  connections: () => number;
  client(options?: { keepConn?: boolean; timeout?: number }): FastCGIClient;
  raw(): Promise<RawWebServer>;
}

let scratch: Scratch;
let sockets = 0;
const responders: Responder[] = [];
const clients: FastCGIClient[] = [];
const raws: RawWebServer[] = [];
const processes = new Processes();
const cleanups: Array<() => unknown> = [];

beforeEach(() => {
  scratch = new Scratch('fcgid-responder-');
});

afterEach(async () => {
  for (const raw of raws.splice(0)) raw.destroy();
  for (const client of clients.splice(0)) client.close();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await processes.killAll();
  await Promise.all(responders.splice(0).map((r) => r.close()));
  scratch.remove();
});

async function start(handler: Handler, options: ResponderOptions = {}, transport: 'unix' | 'tcp' = 'unix'): Promise<Started> {
  const logs: LogLine[] = [];
  const logger: ResponderLogger = {
    error: (fields, message) => logs.push({ level: 'error', fields: fields as Record<string, unknown>, message }),
    warn: (fields, message) => logs.push({ level: 'warn', fields: fields as Record<string, unknown>, message }),
  };
  const responder = createResponder(handler, { logger, ...options });
  responders.push(responder);
  let accepted = 0;
  responder.on('connection', () => accepted++);
  let target: Target;
  let address: string;
  if (transport === 'unix') {
    const path = scratch.path(`app-${++sockets}.sock`);
    await responder.listen(`unix:${path}`);
    target = { path };
    address = `unix:${path}`;
  } else {
    await responder.listen({ kind: 'tcp', host: '127.0.0.1', port: 0 });
    const port = (responder.address() as net.AddressInfo).port;
    target = { host: '127.0.0.1', port };
    address = `tcp://127.0.0.1:${port}`;
  }
  return {
    responder,
    address,
    target,
    logs,
    connections: () => accepted,
    client(clientOptions = {}) {
      const client = new FastCGIClient({ address, ...clientOptions });
      clients.push(client);
      return client;
    },
    async raw() {
      const raw = await RawWebServer.connect(target);
      raws.push(raw);
      return raw;
    },
  };
}

/** BEGIN_REQUEST, PARAMS and a closed STDIN for one request, as a web server sends them. */
function rawRequest(
  id: number,
  url: string,
  options: { keepConn?: boolean; body?: Buffer | string; role?: number } = {},
): Buffer {
  const body = Buffer.from(options.body ?? '');
  return Buffer.concat([
    encodeBeginRequest(id, options.role ?? Role.RESPONDER, options.keepConn ?? true),
    encodeParams(id, cgiParams({ url, method: body.length > 0 ? 'POST' : 'GET', contentLength: body.length })),
    encodeStream(RecordType.STDIN, id, body, true),
  ]);
}

const get = (url: string) => ({ params: cgiParams({ url }) });

/** Handlers that hold a request until the test opens its gate. */
class Gates {
  private readonly gates = new Map<string, Deferred<void>>();
  private readonly arrivals = new Map<string, Deferred<void>>();
  readonly seen: string[] = [];

  hold(url: string): void {
    this.gates.set(url, deferred());
    this.arrivals.set(url, deferred());
  }
  /** Resolves when the handler for `url` has started. */
  arrived(url: string): Promise<void> {
    return this.arrivals.get(url)!.promise;
  }
  open(url: string): void {
    this.gates.get(url)!.resolve();
  }
  async pass(url: string): Promise<void> {
    this.seen.push(url);
    this.arrivals.get(url)?.resolve();
    await this.gates.get(url)?.promise;
  }
}

// ---------------------------------------------------------------------------

describe('GET and POST through FastCGIClient', () => {
  it.each(['unix', 'tcp'] as const)('answers a GET over %s with status, headers and a body whose length end() adds', async (transport) => {
    const app = await start((req, res) => {
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.setHeader('X-Seen', `${req.method} ${req.url}`);
      res.end('hello');
    }, {}, transport);
    const r = await app.client().fetch(get('/hello?x=1'));
    expect(r.status).toBe(200);
    expect(r.statusText).toBe('OK');
    expect(r.headers).toEqual({ 'content-type': 'text/plain; charset=utf-8', 'x-seen': 'GET /hello?x=1', 'content-length': '5' });
    expect(r.body.toString()).toBe('hello');
    expect(r.stderr.length).toBe(0);
    expect([r.appStatus, r.protocolStatus]).toEqual([0, ProtocolStatus.REQUEST_COMPLETE]);
  });

  it('reads a 300 KB POST body and answers with writeHead status and headers', async () => {
    const app = await start(async (req, res) => {
      const hash = createHash('sha256');
      let length = 0;
      for await (const chunk of req) {
        hash.update(chunk as Buffer);
        length += (chunk as Buffer).length;
      }
      res.writeHead(201, 'Made', { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ length, sha256: hash.digest('hex'), method: req.method }));
    });
    const body = randomBytes(300 * 1024);
    const r = await app.client().fetch({
      params: cgiParams({ url: '/upload', method: 'POST', contentLength: body.length }),
      body,
    });
    expect(r.status).toBe(201);
    expect(r.statusText).toBe('Made');
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['content-length']).toBe(String(r.body.length));
    expect(JSON.parse(r.body.toString())).toEqual({
      length: body.length,
      sha256: createHash('sha256').update(body).digest('hex'),
      method: 'POST',
    });
  });

  it('sends no Content-Length for a body streamed with write()', async () => {
    const app = await start((_req, res) => {
      res.write('a');
      res.write(Buffer.from('b'));
      res.end('c');
    });
    const r = await app.client().fetch(get('/stream'));
    expect(r.body.toString()).toBe('abc');
    expect(r.headers['content-length']).toBeUndefined();
  });
});

describe('FCGI_KEEP_CONN (§5.1)', () => {
  it('with the flag, the connection stays open and serves a second request', async () => {
    const app = await start((req, res) => res.end(`seen ${req.url} keepConn=${req.keepConn}`));
    const raw = await app.raw();
    raw.send(rawRequest(1, '/first', { keepConn: true }));
    expect(await raw.endOf(1)).toEqual({ appStatus: 0, protocolStatus: ProtocolStatus.REQUEST_COMPLETE });
    raw.send(rawRequest(2, '/second', { keepConn: true }));
    expect(await raw.endOf(2)).toEqual({ appStatus: 0, protocolStatus: ProtocolStatus.REQUEST_COMPLETE });
    expect(splitCgi(raw.stream(RecordType.STDOUT, 1)).body.toString()).toBe('seen /first keepConn=true');
    expect(splitCgi(raw.stream(RecordType.STDOUT, 2)).body.toString()).toBe('seen /second keepConn=true');
    expect(raw.socket.readableEnded).toBe(false);
    expect(app.connections()).toBe(1);
  });

  it('without the flag, the responder closes the connection after END_REQUEST', async () => {
    const app = await start((req, res) => res.end(`seen ${req.url} keepConn=${req.keepConn}`));
    const raw = await app.raw();
    raw.send(rawRequest(1, '/only', { keepConn: false }));
    await raw.ended;
    // END_REQUEST is the last thing on the wire, and the connection closed with nothing after it.
    expect(raw.typesOf(1)).toEqual(['STDOUT', 'STDOUT', 'END_REQUEST']);
    expect(raw.records.at(-1)!.type).toBe(RecordType.END_REQUEST);
    expect(splitCgi(raw.stream(RecordType.STDOUT, 1)).body.toString()).toBe('seen /only keepConn=false');
  });
});

describe('multiplexing (§3.3)', () => {
  it('serves ids 1, 2, 3 interleaved on one connection and answers each under its own id', async () => {
    const gates = new Gates();
    for (const id of [1, 2, 3]) gates.hold(`/r${id}`);
    const app = await start(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const body = `${req.url}:${Buffer.concat(chunks).toString()}`;
      // Part 0 goes out before the gate, so all three responses are in flight at once.
      res.write(`${body}|0|`.repeat(2000));
      await gates.pass(req.url);
      for (let i = 1; i < 4; i++) {
        await new Promise((r) => setImmediate(r));
        res.write(`${body}|${i}|`.repeat(2000));
      }
      res.end('done');
    });
    const raw = await app.raw();
    const records: Buffer[][] = [1, 2, 3].map((id) => {
      const pairs = encodePairs(cgiParams({ url: `/r${id}`, method: 'POST', contentLength: 10 }));
      const cut = Math.floor(pairs.length / 2);
      return [
        encodeBeginRequest(id, Role.RESPONDER, true),
        encodeStream(RecordType.PARAMS, id, pairs.subarray(0, cut)),
        encodeStream(RecordType.PARAMS, id, pairs.subarray(cut), true),
        encodeStream(RecordType.STDIN, id, Buffer.from(`body-${id}-`)),
        encodeStream(RecordType.STDIN, id, Buffer.from(`${id}${id}`), true),
      ];
    });
    // Round-robin: BEGIN 1, BEGIN 2, BEGIN 3, first PARAMS 1, first PARAMS 2, ...
    const interleaved: Buffer[] = [];
    for (let i = 0; i < records[0]!.length; i++) for (const perId of records) interleaved.push(perId[i]!);
    raw.send(...interleaved);
    await Promise.all([1, 2, 3].map((id) => gates.arrived(`/r${id}`)));
    // Finish out of order: 3, then 1, then 2.
    const order: number[] = [];
    for (const id of [3, 1, 2]) {
      gates.open(`/r${id}`);
      expect(await raw.endOf(id)).toEqual({ appStatus: 0, protocolStatus: ProtocolStatus.REQUEST_COMPLETE });
      order.push(id);
    }
    expect(order).toEqual([3, 1, 2]);
    for (const id of [1, 2, 3]) {
      const body = `/r${id}:body-${id}-${id}${id}`;
      const expected = [0, 1, 2, 3].map((i) => `${body}|${i}|`.repeat(2000)).join('') + 'done';
      expect(splitCgi(raw.stream(RecordType.STDOUT, id)).body.toString()).toBe(expected);
      expect(raw.typesOf(id).filter((t) => t === 'END_REQUEST')).toHaveLength(1);
    }
    // The three responses really were in flight together: output of every id
    // arrived before the first END_REQUEST.
    const firstEnd = raw.records.findIndex((r) => r.type === RecordType.END_REQUEST);
    const before = new Set(raw.records.slice(0, firstEnd).filter((r) => r.type === RecordType.STDOUT).map((r) => r.requestId));
    expect([...before].sort()).toEqual([1, 2, 3]);
    expect(app.connections()).toBe(1);
  });
});

describe('ABORT_REQUEST (§5.4)', () => {
  it("emits 'aborted' and aborts req.signal, answers END_REQUEST, and the connection serves other ids", async () => {
    const arrived = deferred();
    const aborted = deferred();
    const seen = { signalAborted: false, reqAborted: false, lateWrite: undefined as boolean | undefined, resClosed: false };
    const app = await start((req, res) => {
      if (req.url !== '/slow') return void res.end(`fast ${req.url}`);
      const signal = req.signal;
      res.on('close', () => (seen.resClosed = true));
      req.on('aborted', () => {
        seen.signalAborted = signal.aborted;
        seen.reqAborted = req.aborted;
        // Output from the 'aborted' listener itself is dropped, and its end() sends no second END_REQUEST.
        seen.lateWrite = res.write('too late');
        res.end('the end');
        aborted.resolve();
      });
      arrived.resolve();
    });
    const raw = await app.raw();
    raw.send(rawRequest(1, '/slow'));
    await arrived.promise;
    // Another id is served while 1 is in progress...
    raw.send(rawRequest(2, '/during'));
    await raw.endOf(2);
    raw.send(encodeAbortRequest(1));
    expect(await raw.endOf(1)).toEqual({ appStatus: 0, protocolStatus: ProtocolStatus.REQUEST_COMPLETE });
    await aborted.promise;
    // ...and after the abort.
    raw.send(rawRequest(3, '/after'));
    await raw.endOf(3);
    expect(seen).toEqual({ signalAborted: true, reqAborted: true, lateWrite: false, resClosed: true });
    // Nothing but the END_REQUEST for the aborted id: the late write was dropped.
    expect(raw.typesOf(1)).toEqual(['END_REQUEST']);
    expect(splitCgi(raw.stream(RecordType.STDOUT, 2)).body.toString()).toBe('fast /during');
    expect(splitCgi(raw.stream(RecordType.STDOUT, 3)).body.toString()).toBe('fast /after');
    expect(app.connections()).toBe(1);
  });

  it('a web server that closes the connection before the body ended aborts the request, and its body read fails', async () => {
    const arrived = deferred<FastCGIRequest>();
    const aborted = deferred();
    const bodyRead = deferred<string>();
    const app = await start(async (req) => {
      req.on('aborted', () => aborted.resolve());
      arrived.resolve(req);
      try {
        for await (const _chunk of req) {
          // read until the end that never comes
        }
        bodyRead.resolve('ended');
      } catch (err) {
        bodyRead.resolve((err as NodeJS.ErrnoException).code ?? 'error');
      }
    });
    const raw = await app.raw();
    // BEGIN, PARAMS and part of the body, without the empty STDIN that ends it.
    raw.send(
      encodeBeginRequest(1, Role.RESPONDER, true),
      encodeParams(1, cgiParams({ url: '/upload', method: 'POST', contentLength: 1000 })),
      encodeStream(RecordType.STDIN, 1, Buffer.alloc(100, 'x')),
    );
    const req = await arrived.promise;
    raw.socket.end();
    await aborted.promise;
    expect(req.aborted).toBe(true);
    expect(req.signal.aborted).toBe(true);
    expect(await bodyRead.promise).toBe('ERR_STREAM_PREMATURE_CLOSE');
    expect(app.responder.activeRequests).toBe(0);
  });

  it('a web server that closes after sending its whole input (nginx on client hang-up) aborts a waiting handler at once', async () => {
    const aborted = deferred();
    const handlerStarted = deferred();
    const app = await start(async (req) => {
      req.on('aborted', () => aborted.resolve());
      handlerStarted.resolve();
      // A handler waiting on something slow, writing nothing.
      await new Promise<void>((resolve) => req.signal.addEventListener('abort', () => resolve()));
    });
    const raw = await app.raw();
    raw.send(rawRequest(1, '/slow-db'));
    await handlerStarted.promise;
    raw.socket.end();
    await aborted.promise;
    expect(app.responder.activeRequests).toBe(0);
  });

  it('a web server that drops the connection mid-response aborts the request at the next write', async () => {
    const aborted = deferred();
    const app = await start(async (req, res) => {
      req.on('aborted', () => aborted.resolve());
      res.write('first');
      while (!req.aborted) {
        await new Promise((r) => setImmediate(r));
        res.write('more');
      }
    });
    const raw = await app.raw();
    raw.send(rawRequest(1, '/stream'));
    await raw.waitFor((r) => r.type === RecordType.STDOUT);
    raw.destroy();
    await aborted.promise;
    expect(app.responder.activeRequests).toBe(0);
  });
});

describe('management records (§4)', () => {
  it('answers GET_VALUES with FCGI_MAX_CONNS, FCGI_MAX_REQS and FCGI_MPXS_CONNS, omitting names it does not know', async () => {
    const app = await start((_req, res) => res.end(), { maxConnections: 7, maxConcurrentRequests: 3 });
    const raw = await app.raw();
    raw.send(encodeGetValues([ValueName.MAX_CONNS, 'FCGI_NOT_A_VARIABLE', ValueName.MAX_REQS, ValueName.MPXS_CONNS]));
    const result = await raw.waitFor((r) => r.type === RecordType.GET_VALUES_RESULT);
    expect(result.requestId).toBe(0);
    expect(Object.fromEntries(decodePairs(result.content))).toEqual({
      FCGI_MAX_CONNS: '7',
      FCGI_MAX_REQS: '21',
      FCGI_MPXS_CONNS: '1',
    });
    // The client's getValues() reads the same; with multiplex off MPXS_CONNS says 0.
    const single = await start((_req, res) => res.end(), { multiplex: false });
    expect(Object.fromEntries(await single.client().getValues([ValueName.MPXS_CONNS, 'FCGI_UNKNOWN_NAME']))).toEqual({
      FCGI_MPXS_CONNS: '0',
    });
  });

  it.each([77, 200])('answers a management record of type %i with UNKNOWN_TYPE naming it, and keeps the connection', async (type) => {
    const app = await start((_req, res) => res.end('still here'));
    const raw = await app.raw();
    raw.send(encodeRecord(type, 0, Buffer.from('what is this')));
    const answer = await raw.waitFor((r) => r.type === RecordType.UNKNOWN_TYPE);
    expect(answer.requestId).toBe(0);
    expect(answer.content).toHaveLength(8);
    expect(answer.content[0]).toBe(type);
    raw.send(rawRequest(1, '/next'));
    await raw.endOf(1);
    expect(splitCgi(raw.stream(RecordType.STDOUT, 1)).body.toString()).toBe('still here');
  });
});

describe('requests the responder refuses (§5.5)', () => {
  it.each([
    ['AUTHORIZER', Role.AUTHORIZER],
    ['FILTER', Role.FILTER],
  ])('answers the %s role with UNKNOWN_ROLE by default, without calling the handler', async (_name, role) => {
    const urls: string[] = [];
    const app = await start((req, res) => {
      urls.push(req.url);
      res.end('ok');
    });
    const raw = await app.raw();
    raw.send(rawRequest(1, '/authorize', { role }));
    expect(await raw.endOf(1)).toEqual({ appStatus: 0, protocolStatus: ProtocolStatus.UNKNOWN_ROLE });
    // The refused id's PARAMS and STDIN are ignored (§3.3: inactive id); the connection goes on.
    raw.send(rawRequest(2, '/respond'));
    await raw.endOf(2);
    expect(raw.typesOf(1)).toEqual(['END_REQUEST']);
    expect(urls).toEqual(['/respond']);
  });

  it('answers a second concurrent request CANT_MPX_CONN when multiplex is off', async () => {
    const gates = new Gates();
    gates.hold('/first');
    const app = await start(async (req, res) => {
      await gates.pass(req.url);
      res.end(`done ${req.url}`);
    }, { multiplex: false });
    const raw = await app.raw();
    raw.send(rawRequest(1, '/first'));
    await gates.arrived('/first');
    raw.send(rawRequest(2, '/second'));
    expect(await raw.endOf(2)).toEqual({ appStatus: 0, protocolStatus: ProtocolStatus.CANT_MPX_CONN });
    gates.open('/first');
    expect(await raw.endOf(1)).toEqual({ appStatus: 0, protocolStatus: ProtocolStatus.REQUEST_COMPLETE });
    // One at a time is fine.
    raw.send(rawRequest(3, '/third'));
    expect((await raw.endOf(3)).protocolStatus).toBe(ProtocolStatus.REQUEST_COMPLETE);
    expect(raw.typesOf(2)).toEqual(['END_REQUEST']);
    expect(gates.seen).toEqual(['/first', '/third']);
  });

  it('answers OVERLOADED past maxConcurrentRequests, and accepts again once requests finish', async () => {
    const gates = new Gates();
    gates.hold('/a');
    gates.hold('/b');
    const app = await start(async (req, res) => {
      await gates.pass(req.url);
      res.end(`done ${req.url}`);
    }, { maxConcurrentRequests: 2 });
    const raw = await app.raw();
    raw.send(rawRequest(1, '/a'), rawRequest(2, '/b'));
    await Promise.all([gates.arrived('/a'), gates.arrived('/b')]);
    raw.send(rawRequest(3, '/c'));
    expect(await raw.endOf(3)).toEqual({ appStatus: 0, protocolStatus: ProtocolStatus.OVERLOADED });
    gates.open('/a');
    gates.open('/b');
    await Promise.all([raw.endOf(1), raw.endOf(2)]);
    raw.send(rawRequest(4, '/d'));
    expect((await raw.endOf(4)).protocolStatus).toBe(ProtocolStatus.REQUEST_COMPLETE);
    expect(gates.seen).toEqual(['/a', '/b', '/d']);
  });
});

describe('FCGI_WEB_SERVER_ADDRS', () => {
  it('closes a TCP connection from an address not in allowedClients without a byte of response', async () => {
    const urls: string[] = [];
    const app = await start((req, res) => {
      urls.push(req.url);
      res.end();
    }, { allowedClients: ['10.9.9.9'] }, 'tcp');
    const raw = await app.raw();
    raw.send(rawRequest(1, '/'));
    await raw.closed;
    expect(raw.records).toEqual([]);
    expect(urls).toEqual([]);
    expect(app.logs).toContainEqual(expect.objectContaining({ level: 'warn', fields: { remote: '127.0.0.1' } }));
    await expect(app.client().fetch(get('/'))).rejects.toMatchObject({ code: 'FCGI_CONNECTION_CLOSED' });
  });

  it('serves a TCP client in allowedClients', async () => {
    const app = await start((_req, res) => res.end('welcome'), { allowedClients: ['10.9.9.9', '127.0.0.1'] }, 'tcp');
    expect((await app.client().fetch(get('/'))).body.toString()).toBe('welcome');
  });

  it('takes the list from the environment variable when allowedClients is not given', async () => {
    const before = process.env.FCGI_WEB_SERVER_ADDRS;
    cleanups.push(() => {
      if (before === undefined) delete process.env.FCGI_WEB_SERVER_ADDRS;
      else process.env.FCGI_WEB_SERVER_ADDRS = before;
    });
    process.env.FCGI_WEB_SERVER_ADDRS = '10.9.9.9, 10.0.0.2';
    const refused = await start((_req, res) => res.end('welcome'), {}, 'tcp');
    await expect(refused.client().fetch(get('/'))).rejects.toMatchObject({ code: 'FCGI_CONNECTION_CLOSED' });
    // Unix sockets are not checked: the file mode guards them.
    const unix = await start((_req, res) => res.end('welcome'), {}, 'unix');
    expect((await unix.client().fetch(get('/'))).body.toString()).toBe('welcome');
    process.env.FCGI_WEB_SERVER_ADDRS = '10.9.9.9,127.0.0.1';
    const allowed = await start((_req, res) => res.end('welcome'), {}, 'tcp');
    expect((await allowed.client().fetch(get('/'))).body.toString()).toBe('welcome');
  });
});

describe('malformed input', () => {
  const header = (version: number, type: number, id: number, length: number) =>
    Buffer.from([version, type, id >> 8, id & 0xff, length >> 8, length & 0xff, 0, 0]);
  it.each([
    ['a header with version 2', 'FCGI_BAD_VERSION', Buffer.concat([header(2, RecordType.BEGIN_REQUEST, 1, 8), Buffer.alloc(8)])],
    ['an HTTP request sent to the FastCGI port', 'FCGI_BAD_VERSION', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
    ['BEGIN_REQUEST with a 7-byte body', 'FCGI_BAD_RECORD_LENGTH', encodeRecord(RecordType.BEGIN_REQUEST, 1, Buffer.alloc(7))],
    [
      'STDIN before the params stream ended',
      'FCGI_OUT_OF_ORDER',
      Buffer.concat([encodeBeginRequest(1, Role.RESPONDER, true), encodeStream(RecordType.STDIN, 1, Buffer.from('x'))]),
    ],
    ['PARAMS on request id 0', 'FCGI_BAD_REQUEST_ID', encodeParams(0, { A: 'b' })],
  ])('%s: closes that connection, logs %s, and goes on serving new ones', async (_name, code, bytes) => {
    const app = await start((req, res) => res.end(`fine ${req.url}`));
    const raw = await app.raw();
    raw.send(bytes);
    await raw.closed;
    expect(raw.records).toEqual([]);
    expect(app.logs).toContainEqual(
      expect.objectContaining({ level: 'error', fields: expect.objectContaining({ err: expect.objectContaining({ code }) }) }),
    );
    expect((await app.client().fetch(get('/after'))).body.toString()).toBe('fine /after');
  });
});

describe('handler failures', () => {
  it.each([
    ['throws', (): unknown => { throw new Error('boom sync'); }, 'boom sync'],
    ['rejects', async (): Promise<unknown> => { throw new Error('boom async'); }, 'boom async'],
  ])('a handler that %s gets a 500 and a log line; the next request succeeds', async (_name, fail, message) => {
    const app = await start((req, res) => (req.url === '/fail' ? fail() : res.end('fine')));
    const client = app.client();
    const r = await client.fetch(get('/fail'));
    expect(r.status).toBe(500);
    expect(r.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(r.body.toString()).toBe('Internal Server Error\n');
    expect(app.logs).toEqual([
      {
        level: 'error',
        message: 'request handler threw; answered 500',
        fields: expect.objectContaining({ err: expect.objectContaining({ message }), method: 'GET', url: '/fail' }),
      },
    ]);
    const next = await client.fetch(get('/ok'));
    expect([next.status, next.body.toString()]).toEqual([200, 'fine']);
    expect(app.connections()).toBe(1);
  });

  it('a handler that throws after the head went out ends the body and reports appStatus 1', async () => {
    const app = await start((_req, res) => {
      res.write('partial');
      throw new Error('midway');
    });
    const r = await app.client().fetch(get('/half'));
    expect([r.status, r.body.toString(), r.appStatus]).toEqual([200, 'partial', 1]);
    expect(app.logs.map((l) => l.message)).toEqual(['request handler threw; answered 500']);
  });
});

describe('back-pressure', () => {
  it('holds a 64 MB response back while the web server does not read, then delivers every byte', async () => {
    const TOTAL = 64 * 1024 * 1024;
    const CHUNK = 64 * 1024;
    const stats = { written: 0, flushed: 0, maxPending: 0, falseReturns: 0, drains: 0, waiting: false, finished: false };
    const firstWait = deferred();
    const app = await start(async (_req, res) => {
      res.setHeader('Content-Type', 'application/octet-stream');
      for (let i = 0; i < TOTAL / CHUNK; i++) {
        stats.written += CHUNK;
        stats.maxPending = Math.max(stats.maxPending, stats.written - stats.flushed);
        const ok = res.write(Buffer.alloc(CHUNK, i % 251), (err) => {
          if (!err) stats.flushed += CHUNK;
        });
        if (!ok) {
          stats.falseReturns++;
          stats.waiting = true;
          firstWait.resolve();
          await once(res, 'drain');
          stats.waiting = false;
          stats.drains++;
        }
      }
      stats.finished = true;
      firstWait.resolve(); // so that a responder that never pushes back fails the assertions below, not the timeout
      res.end();
    });
    // A web server that sends its request and then reads nothing.
    const socket = net.connect(app.target as net.NetConnectOpts);
    cleanups.push(() => socket.destroy());
    await once(socket, 'connect');
    socket.write(rawRequest(1, '/big'));
    await firstWait.promise;
    // Wait until the responder is parked on 'drain' and stays parked (the socket
    // buffers are full) over many turns of the event loop.
    let lastFlushed = -1;
    let still = 0;
    await until(() => {
      still = stats.waiting && stats.flushed === lastFlushed ? still + 1 : 0;
      lastFlushed = stats.flushed;
      return still >= 200 || stats.finished;
    }, 'the responder to stop writing');
    expect(stats.finished).toBe(false);
    expect(stats.written).toBeLessThan(TOTAL / 8);

    // Now read everything and check each byte.
    let head: Buffer | null = Buffer.alloc(0);
    let bodyBytes = 0;
    let mismatches = 0;
    let end: { appStatus: number; protocolStatus: number } | null = null;
    const ended = deferred();
    const parser = new RecordParser((type, id, content) => {
      if (id !== 1) return;
      if (type === RecordType.END_REQUEST) {
        end = { appStatus: content.readUInt32BE(0), protocolStatus: content[4]! };
        ended.resolve();
        return;
      }
      if (type !== RecordType.STDOUT) return;
      let data = content;
      if (head !== null) {
        const all: Buffer = Buffer.concat([head, content]);
        const at = all.indexOf('\r\n\r\n');
        if (at === -1) return void (head = all);
        expect(all.toString('latin1', 0, at)).toBe('Status: 200 OK\r\nContent-Type: application/octet-stream');
        head = null;
        data = all.subarray(at + 4);
      }
      for (let k = 0; k < data.length; k++) {
        if (data[k] !== Math.floor((bodyBytes + k) / CHUNK) % 251) mismatches++;
      }
      bodyBytes += data.length;
    });
    socket.on('data', (chunk: Buffer) => parser.push(chunk));
    socket.on('close', () => ended.reject(new Error(`closed after ${bodyBytes} bytes`)));
    await ended.promise;
    expect(end).toEqual({ appStatus: 0, protocolStatus: ProtocolStatus.REQUEST_COMPLETE });
    expect(bodyBytes).toBe(TOTAL);
    expect(mismatches).toBe(0);
    expect(stats.falseReturns).toBeGreaterThan(0);
    expect(stats.drains).toBe(stats.falseReturns);
    // What the responder held in memory at any time stayed far below the response.
    expect(stats.maxPending).toBeLessThan(4 * 1024 * 1024);
  });

  it.each([
    ['at once', false],
    ['once its unread body has filled the reader', true],
  ])('a handler that never reads a 10 MB body answers %s, and the kept connection serves the next request', async (_name, waitForFull) => {
    const app = await start(async (req, res) => {
      if (req.url === '/ignore' && waitForFull) {
        // The body reader is full: the responder has paused the connection for it.
        await until(() => req.readableLength >= req.readableHighWaterMark, 'the body reader to fill');
      }
      res.end(`answered ${req.url}`);
    });
    const client = app.client();
    const body = Buffer.alloc(10 * 1024 * 1024, 'x');
    const first = await client.fetch({ params: cgiParams({ url: '/ignore', method: 'POST', contentLength: body.length }), body });
    expect(first.body.toString()).toBe('answered /ignore');
    const second = await client.fetch(get('/next'));
    expect(second.body.toString()).toBe('answered /next');
    expect(app.connections()).toBe(1);
  });
});

describe('the request and response API', () => {
  it('gives the handler the body as a stream, chunk by chunk, to its end', async () => {
    const app = await start((req, res) => {
      const hash = createHash('sha256');
      let chunks = 0;
      req.on('data', (chunk: Buffer) => {
        chunks++;
        hash.update(chunk);
      });
      req.on('end', () => res.end(JSON.stringify({ chunks, sha256: hash.digest('hex') })));
    });
    const body = randomBytes(1024 * 1024);
    const r = await app.client().fetch({ params: cgiParams({ url: '/', method: 'PUT', contentLength: body.length }), body });
    const answer = JSON.parse(r.body.toString()) as { chunks: number; sha256: string };
    expect(answer.sha256).toBe(createHash('sha256').update(body).digest('hex'));
    expect(answer.chunks).toBeGreaterThan(1);
  });

  it('sends writeStderr() as FCGI_STDERR, apart from STDOUT', async () => {
    const app = await start((_req, res) => {
      res.writeStderr('PHP Notice: something odd\n');
      res.end('body');
    });
    const r = await app.client().fetch(get('/'));
    expect(r.stderr.toString()).toBe('PHP Notice: something odd\n');
    expect(r.body.toString()).toBe('body');
    // On the wire it is its own stream under the request's id.
    const raw = await app.raw();
    raw.send(rawRequest(5, '/'));
    await raw.endOf(5);
    expect(raw.stream(RecordType.STDERR, 5).toString()).toBe('PHP Notice: something odd\n');
    expect(raw.stream(RecordType.STDOUT, 5).toString()).not.toContain('PHP Notice');
  });

  it('rebuilds req.headers from HTTP_* and CONTENT_TYPE/CONTENT_LENGTH, and req.url from REQUEST_URI', async () => {
    let seen: Pick<FastCGIRequest, 'method' | 'url' | 'headers' | 'httpVersion' | 'remoteAddress'> | undefined;
    const app = await start((req, res) => {
      seen = { method: req.method, url: req.url, headers: req.headers, httpVersion: req.httpVersion, remoteAddress: req.remoteAddress };
      res.end();
    });
    await app.client().fetch({
      params: cgiParams({
        method: 'PUT',
        url: '/items/7?fields=a,b',
        headers: { 'X-Request-Id': 'abc', 'Content-Type': 'text/plain', Cookie: 'a=1; b=2', 'Accept-Language': 'fr' },
        contentLength: 3,
        params: { SCRIPT_NAME: '/index.php', PATH_INFO: '/ignored' },
      }),
      body: 'abc',
    });
    expect(seen).toEqual({
      method: 'PUT',
      url: '/items/7?fields=a,b',
      headers: {
        'x-request-id': 'abc',
        'content-type': 'text/plain',
        'content-length': '3',
        cookie: 'a=1; b=2',
        'accept-language': 'fr',
      },
      httpVersion: '1.1',
      remoteAddress: '127.0.0.1',
    });
  });

  it('without REQUEST_URI, req.url is SCRIPT_NAME + PATH_INFO + ?QUERY_STRING (RFC 3875)', async () => {
    let url = '';
    const app = await start((req, res) => {
      url = req.url;
      res.end();
    });
    await app.client().fetch({
      params: { REQUEST_METHOD: 'GET', SCRIPT_NAME: '/app.php', PATH_INFO: '/x/y', QUERY_STRING: 'q=1' },
    });
    expect(url).toBe('/app.php/x/y?q=1');
  });

  it('res.setHeader rejects CR and LF, so a header cannot be injected', async () => {
    const errors: string[] = [];
    const app = await start((_req, res: FastCGIResponse) => {
      const attempts: Array<() => unknown> = [
        () => res.setHeader('X-Evil', 'a\r\nSet-Cookie: pwned=1'),
        () => res.setHeader('X-Evil', 'a\nSet-Cookie: pwned=1'),
        () => res.setHeader('X-Evil\r\nSet-Cookie', 'pwned=1'),
        () => res.setHeader('X-List', ['fine', 'b\r\nSet-Cookie: pwned=1']),
        () => res.writeHead(200, { 'X-Evil': 'a\r\n\r\n<script>' }),
      ];
      for (const attempt of attempts) {
        try {
          attempt();
          errors.push('accepted');
        } catch (err) {
          errors.push((err as NodeJS.ErrnoException).code ?? 'no code');
        }
      }
      res.end('safe');
    });
    const r = await app.client().fetch(get('/'));
    expect(errors).toEqual(['ERR_INVALID_CHAR', 'ERR_INVALID_CHAR', 'ERR_INVALID_HTTP_TOKEN', 'ERR_INVALID_CHAR', 'ERR_INVALID_CHAR']);
    expect(r.headers).toEqual({ 'content-length': '4' });
    expect(r.body.toString()).toBe('safe');
  });
});

describe('listening', () => {
  it('replaces a stale socket file left by a process that died', async () => {
    const path = scratch.path('stale.sock');
    // A listener killed with SIGKILL leaves its socket file behind.
    const dead = spawn(process.execPath, [
      '-e',
      "require('net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))",
      path,
    ]);
    await once(dead, 'exit');
    expect(statSync(path).isSocket()).toBe(true);
    const responder = createResponder((_req, res) => res.end('fresh'), { logger: { error() {}, warn() {} } });
    responders.push(responder);
    await responder.listen(`unix:${path}`);
    const client = new FastCGIClient({ address: `unix:${path}` });
    clients.push(client);
    expect((await client.fetch(get('/'))).body.toString()).toBe('fresh');
  });

  it('refuses with EADDRINUSE a socket file something still listens on, and leaves it in place', async () => {
    const path = scratch.path('live.sock');
    const live = net.createServer((s) => {
      s.on('error', () => {}); // the responder's liveness probe hangs up at once
      s.end('live');
    });
    await new Promise<void>((resolve) => live.listen(path, resolve));
    cleanups.push(() => new Promise((resolve) => live.close(resolve)));
    const responder = createResponder((_req, res) => res.end(), { logger: { error() {}, warn() {} } });
    await expect(responder.listen(`unix:${path}`)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await responder.close();
    // The live server still owns its socket.
    expect(existsSync(path)).toBe(true);
    const socket = net.connect(path);
    cleanups.push(() => socket.destroy());
    const [greeting] = (await once(socket, 'data')) as [Buffer];
    expect(greeting.toString()).toBe('live');
  });

  it.each([
    ['as fd 0 (FCGI_LISTENSOCK_FILENO)', 0],
    ['as the fd named by FCGID_LISTEN_FD', 3],
  ])('examples/hello.mjs serves a listening socket inherited %s', async (_name, fd) => {
    const hello = fileURLToPath(new URL('../../examples/hello.mjs', import.meta.url));
    const dist = fileURLToPath(new URL('../../dist/fastcgi/index.js', import.meta.url));
    expect(existsSync(dist), 'examples/hello.mjs runs the build: npm run build').toBe(true);
    // The listening socket is made here and handed over, as fcgid and spawn-fcgi do.
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0, backlog: 16 }, resolve));
    const port = (server.address() as net.AddressInfo).port;
    const listenFd = (server as unknown as { _handle: { fd: number } })._handle.fd;
    const stdio = fd === 0 ? [listenFd, 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe', listenFd];
    const env = { ...process.env };
    delete env.FCGID_LISTEN_FD;
    if (fd !== 0) env.FCGID_LISTEN_FD = String(fd);
    const child = processes.start(process.execPath, [hello], { stdio: stdio as never, env });
    // The child has its copy now; ours closes so that only the child accepts.
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const client = new FastCGIClient({ address: port });
    clients.push(client);
    const r = await client.fetch(get('/inherited'));
    expect(r.body.toString()).toBe(`hello from pid ${child.pid}: GET /inherited\n`);
    client.close();
    await processes.stop(child);
    expect(await child.exited).toBe(0);
    expect(child.output()).toContain('serving FastCGI on the inherited socket');
  });
});
