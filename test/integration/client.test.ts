// Our FastCGI client over real sockets, in-process: against our responder where
// a well-behaved application will do, and against a scripted application
// (test/helpers/fcgi-raw.ts) where the test must choose every byte of the
// answer or withhold it. Section numbers are the FastCGI 1.0 specification's.

import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  FastCGIClient,
  cgiParams,
  collect,
  createResponder,
  type ClientOptions,
  type FastCGIRequest,
  type Handler,
  type Responder,
} from '../../src/fastcgi/index.js';
import { ProtocolStatus, RecordType, Role, encodeStream } from '../../src/protocol/index.js';
import { FakeApp, deferred, type FakeRequest } from '../helpers/fcgi-raw.js';
import { Scratch, freePort } from '../helpers/peers.js';

let scratch: Scratch;
let sockets = 0;
const clients: FastCGIClient[] = [];
const responders: Responder[] = [];
const apps: FakeApp[] = [];
const cleanups: Array<() => unknown> = [];

beforeEach(() => {
  scratch = new Scratch('fcgid-client-');
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await Promise.all(apps.splice(0).map((a) => a.close()));
  await Promise.all(responders.splice(0).map((r) => r.close()));
  scratch.remove();
});

function client(address: ClientOptions['address'], options: Omit<ClientOptions, 'address'> = {}): FastCGIClient {
  const c = new FastCGIClient({ address, ...options });
  clients.push(c);
  return c;
}

/** Our responder on a unix socket, counting the connections it accepts. */
async function responder(handler: Handler): Promise<{ address: string; connections: () => number }> {
  const r = createResponder(handler, { logger: { error() {}, warn() {} } });
  responders.push(r);
  let accepted = 0;
  r.on('connection', () => accepted++);
  const address = `unix:${scratch.path(`app-${++sockets}.sock`)}`;
  await r.listen(address);
  return { address, connections: () => accepted };
}

/** A scripted application on a unix socket. */
async function fakeApp(onRequest: (app: FakeApp, req: FakeRequest) => void): Promise<{ app: FakeApp; address: string }> {
  const app = new FakeApp();
  apps.push(app);
  app.onRequest = (req) => onRequest(app, req);
  const path = scratch.path(`fake-${++sockets}.sock`);
  await app.listen(path);
  return { app, address: `unix:${path}` };
}

const get = (url: string) => ({ params: cgiParams({ url }) });

// ---------------------------------------------------------------------------

describe('connecting', () => {
  it('ENOENT: a missing socket file gives FCGI_CONNECT_FAILED naming the address and what to check', async () => {
    const path = scratch.path('nobody-here.sock');
    const err = await client(`unix:${path}`).fetch(get('/')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FCGI_CONNECT_FAILED', cause: { code: 'ENOENT' } });
    expect((err as Error).message).toBe(
      `cannot connect to unix:${path}: ENOENT (no socket file there: is the application running, and is the path right?)`,
    );
  });

  it('ECONNREFUSED: a port nobody listens on gives FCGI_CONNECT_FAILED naming the address and what to check', async () => {
    const port = await freePort();
    const err = await client(`tcp://127.0.0.1:${port}`).fetch(get('/')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FCGI_CONNECT_FAILED', cause: { code: 'ECONNREFUSED' } });
    expect((err as Error).message).toBe(
      `cannot connect to tcp://127.0.0.1:${port}: ECONNREFUSED (nothing is listening there: is the application running?)`,
    );
  });

  it('FCGI_CONNECT_TIMEOUT when the listener never completes the handshake', async () => {
    // A listener whose thread is blocked never accepts; once its queue (backlog 1:
    // two connections on Linux) is full, the kernel drops further SYNs and a
    // connect hangs, as it does against an overloaded application.
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       const server = require('node:net').createServer();
       server.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
         parentPort.postMessage(server.address().port);
         Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
       });`,
      { eval: true },
    );
    cleanups.push(() => worker.terminate());
    const [port] = (await once(worker, 'message')) as [number];
    for (let i = 0; i < 2; i++) {
      const filler = net.connect(port, '127.0.0.1');
      filler.on('error', () => {});
      cleanups.push(() => filler.destroy());
      await once(filler, 'connect');
    }
    const err = await client(`tcp://127.0.0.1:${port}`, { connectTimeout: 300 })
      .fetch(get('/'))
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FCGI_CONNECT_TIMEOUT' });
    expect((err as Error).message).toBe(`connecting to tcp://127.0.0.1:${port} took longer than 300 ms`);
  });
});

describe('timeouts and aborts', () => {
  it('FCGI_TIMEOUT when the application accepts the request and never answers; the connection is dropped', async () => {
    const { app, address } = await fakeApp(() => {
      // silence
    });
    const err = await client(address, { timeout: 200 }).fetch(get('/hang')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FCGI_TIMEOUT' });
    expect((err as Error).message).toBe(`${address} sent nothing for 200 ms; the request was aborted`);
    expect(app.requests.map((r) => r.params.get('REQUEST_URI'))).toEqual(['/hang']);
    // The application sees the connection go away.
    const appSide = app.requests[0]!.socket;
    if (!appSide.destroyed) await once(appSide, 'close');
  });

  it('an AbortSignal sends ABORT_REQUEST: the handler sees req "aborted", the call rejects FCGI_ABORTED', async () => {
    const arrived = deferred<FastCGIRequest>();
    const aborted = deferred();
    const { address } = await responder((req, res) => {
      if (req.url !== '/slow') return void res.end('quick');
      req.on('aborted', () => aborted.resolve());
      arrived.resolve(req);
    });
    const c = client(address);
    const controller = new AbortController();
    const pending = c.fetch({ ...get('/slow'), signal: controller.signal });
    const req = await arrived.promise;
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'FCGI_ABORTED', name: 'AbortError' });
    await aborted.promise;
    expect(req.signal.aborted).toBe(true);
    // The client goes on.
    expect((await c.fetch(get('/next'))).body.toString()).toBe('quick');
  });

  it('an abort the application ignores still rejects at once with FCGI_ABORTED', async () => {
    const arrived = deferred();
    const { app, address } = await fakeApp(() => arrived.resolve()); // never answers, not even the abort
    const abortSeen = deferred();
    app.onAbort = () => abortSeen.resolve();
    const controller = new AbortController();
    const pending = client(address).fetch({ ...get('/'), signal: controller.signal });
    await arrived.promise;
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'FCGI_ABORTED' });
    await abortSeen.promise;
    expect(app.requests[0]!.aborted).toBe(true);
  });
});

describe('FCGI_KEEP_CONN', () => {
  it('one kept connection serves N sequential requests', async () => {
    const flags: boolean[] = [];
    const app = await responder((req, res) => {
      flags.push(req.keepConn);
      res.end(`n=${req.url}`);
    });
    const c = client(app.address);
    for (let i = 0; i < 5; i++) expect((await c.fetch(get(`/${i}`))).body.toString()).toBe(`n=/${i}`);
    expect(app.connections()).toBe(1);
    expect(flags).toEqual([true, true, true, true, true]);
  });

  it('with keepConn false, each request has its own connection', async () => {
    const flags: boolean[] = [];
    const app = await responder((req, res) => {
      flags.push(req.keepConn);
      res.end('ok');
    });
    const c = client(app.address, { keepConn: false });
    for (let i = 0; i < 3; i++) await c.fetch(get('/'));
    expect(app.connections()).toBe(3);
    expect(flags).toEqual([false, false, false]);
  });

  it('retries on a fresh connection when the application closed the kept one after answering', async () => {
    // php-cgi after PHP_FCGI_MAX_REQUESTS: the answer, then the close, back to back.
    const { app, address } = await fakeApp((a, req) => {
      a.reply(req, `Content-Type: text/plain\r\n\r\nanswer ${req.params.get('REQUEST_URI')}`, { close: true });
    });
    const c = client(address);
    for (let i = 1; i <= 4; i++) {
      // The next request goes out as soon as the previous one resolves, racing the
      // close: it may reach the closing connection (whose answer never arrives) and
      // must then be sent again on a new one.
      expect((await c.fetch(get(`/${i}`))).body.toString()).toBe(`answer /${i}`);
    }
    // One connection per answer: each closed after its first.
    expect(app.connections).toBe(4);
  });

  it('uses a fresh connection when the kept one was closed by the application while idle', async () => {
    const { app, address } = await fakeApp((a, req) => a.reply(req, `\r\nanswer ${a.requests.length}`));
    const c = client(address);
    expect((await c.fetch(get('/'))).body.toString()).toBe('answer 1');
    const [appSide] = [...app.sockets];
    appSide!.end();
    await once(appSide!, 'close');
    expect((await c.fetch(get('/'))).body.toString()).toBe('answer 2');
    expect(app.connections).toBe(2);
  });
});

describe('the CGI head (RFC 3875 §6)', () => {
  const answer = async (stdout: string | Buffer[]) => {
    const { address } = await fakeApp((a, req) => a.reply(req, Array.isArray(stdout) ? Buffer.concat(stdout) : stdout));
    return client(address).fetch(get('/'));
  };

  it('takes the status from a Status header, and keeps it out of the headers', async () => {
    const r = await answer('Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope');
    expect([r.status, r.statusText]).toEqual([404, 'Not Found']);
    expect(r.headers).toEqual({ 'content-type': 'text/plain' });
    expect(r.rawHeaders).toEqual([['Content-Type', 'text/plain']]);
    expect(r.body.toString()).toBe('nope');
  });

  it('a Location without Status is a 302 redirect; with Status, Status wins', async () => {
    const redirect = await answer('Location: /elsewhere\r\n\r\n');
    expect([redirect.status, redirect.headers.location]).toEqual([302, '/elsewhere']);
    const moved = await answer('Location: /new\r\nStatus: 301 Moved Permanently\r\n\r\n');
    expect([moved.status, moved.statusText]).toEqual([301, 'Moved Permanently']);
  });

  it('no Status and no Location is 200', async () => {
    const r = await answer('Content-Type: text/html\r\n\r\n<p>hi</p>');
    expect([r.status, r.body.toString()]).toEqual([200, '<p>hi</p>']);
  });

  it('a repeated header becomes an array, in order', async () => {
    const r = await answer('Set-Cookie: a=1\r\nX-One: 1\r\nSet-Cookie: b=2\r\nset-cookie: c=3\r\n\r\n');
    expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2', 'c=3']);
    expect(r.headers['x-one']).toBe('1');
    expect(r.rawHeaders.map(([name]) => name)).toEqual(['Set-Cookie', 'X-One', 'Set-Cookie', 'set-cookie']);
  });

  it('accepts bare LF line ends, and a head split across STDOUT records', async () => {
    const bare = await answer('Content-Type: text/plain\n\nbody');
    expect([bare.headers['content-type'], bare.body.toString()]).toEqual(['text/plain', 'body']);
    const { address } = await fakeApp((a, req) => {
      // Each piece in its own STDOUT record, the blank line cut in two.
      for (const piece of ['Status: 201 Cre', 'ated\r\nX-A: 1\r', '\n\r', '\nthe body']) {
        req.socket.write(encodeStream(RecordType.STDOUT, req.requestId, Buffer.from(piece, 'latin1')));
      }
      a.reply(req, '');
    });
    const split = await client(address).fetch(get('/'));
    expect([split.status, split.statusText, split.headers['x-a'], split.body.toString()]).toEqual([201, 'Created', '1', 'the body']);
  });

  it.each([
    ['no blank line after the headers', 'Content-Type: text/plain\r\nX-A: 1\r\n', "has no blank line after its CGI headers"],
    ['no output at all', '', 'without a CGI header section'],
    ['a line that is not a header', 'this is not a header\r\n\r\nbody', 'malformed CGI header line'],
    ['a Status that is not a number', 'Status: OK\r\n\r\n', 'malformed CGI Status header'],
  ])('rejects %s with FCGI_BAD_RESPONSE_HEAD, and the client goes on', async (_name, stdout, message) => {
    let n = 0;
    const { address } = await fakeApp((a, req) => a.reply(req, n++ === 0 ? stdout : 'Content-Type: text/plain\r\n\r\nfine'));
    const c = client(address);
    const err = await c.fetch(get('/')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FCGI_BAD_RESPONSE_HEAD' });
    expect((err as Error).message).toContain(message);
    expect((await c.fetch(get('/'))).body.toString()).toBe('fine');
  });
});

describe('END_REQUEST statuses (§5.5)', () => {
  it('OVERLOADED rejects with FCGI_REJECTED carrying the protocolStatus', async () => {
    const { address } = await fakeApp((a, req) => a.reply(req, '', { protocolStatus: ProtocolStatus.OVERLOADED }));
    const err = await client(address).fetch(get('/')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FCGI_REJECTED', protocolStatus: ProtocolStatus.OVERLOADED });
    expect((err as Error).message).toBe(`${address} refused the request: OVERLOADED`);
  });

  it('UNKNOWN_ROLE from our responder for an AUTHORIZER request rejects with FCGI_REJECTED', async () => {
    const app = await responder((_req, res) => res.end());
    const err = await client(app.address)
      .fetch({ ...get('/'), role: Role.AUTHORIZER })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FCGI_REJECTED', protocolStatus: ProtocolStatus.UNKNOWN_ROLE });
  });

  it('passes appStatus and STDERR through', async () => {
    const { address } = await fakeApp((a, req) =>
      a.reply(req, 'Status: 500 Oops\r\n\r\n', { appStatus: 255, stderr: 'PHP Fatal error: x\n' }),
    );
    const r = await client(address).fetch(get('/'));
    expect([r.status, r.appStatus, r.stderr.toString()]).toEqual([500, 255, 'PHP Fatal error: x\n']);
  });
});

describe('request bodies', () => {
  const hashingResponder = () =>
    responder(async (req, res) => {
      const hash = createHash('sha256');
      let length = 0;
      for await (const chunk of req) {
        hash.update(chunk as Buffer);
        length += (chunk as Buffer).length;
      }
      res.end(`${length} ${hash.digest('hex')}`);
    });
  const digest = (b: Buffer) => `${b.length} ${createHash('sha256').update(b).digest('hex')}`;

  it('a Readable body of uneven chunks (3 MB) arrives whole', async () => {
    const app = await hashingResponder();
    const chunks = Array.from({ length: 60 }, (_, i) => randomBytes(1 + ((i * 7919) % 100_000)));
    const whole = Buffer.concat(chunks);
    const r = await client(app.address).fetch({
      params: cgiParams({ url: '/', method: 'POST', contentLength: whole.length }),
      body: Readable.from(chunks),
    });
    expect(r.body.toString()).toBe(digest(whole));
  });

  it('an async iterable body and a string body arrive whole', async () => {
    const app = await hashingResponder();
    const c = client(app.address);
    const parts = ['héllo ', Buffer.from('wörld '), new Uint8Array([0, 1, 2, 255])];
    async function* generate() {
      for (const p of parts) yield p;
    }
    const expected = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
    expect((await c.fetch({ ...get('/'), body: generate() })).body.toString()).toBe(digest(expected));
    expect((await c.fetch({ ...get('/'), body: 'plain string' })).body.toString()).toBe(digest(Buffer.from('plain string')));
  });

  it('exchange() hands back STDOUT raw, head included', async () => {
    const app = await responder((_req, res) => res.end('raw'));
    const x = await client(app.address).exchange(get('/'));
    const [stdout, end] = await Promise.all([collect(x.stdout), x.end]);
    expect(stdout.toString()).toBe('Status: 200 OK\r\nContent-Length: 3\r\n\r\nraw');
    expect(end).toEqual({ appStatus: 0, protocolStatus: ProtocolStatus.REQUEST_COMPLETE });
  });
});
