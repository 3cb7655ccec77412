// fcgid's responder behind the real clients it will meet: cgi-fcgi (libfcgi),
// nginx (with and without fastcgi_keep_conn, big bodies both ways, a client that
// hangs up), lighttpd's mod_fastcgi and Apache's mod_proxy_fcgi. The application
// (test/fixtures/peer-app.ts) runs in this process on createResponder, so each
// test can see what the request looked like from inside and which FastCGI
// connection carried it; the web servers run as children, on config files and
// sockets in a Scratch dir.

import { randomBytes, randomUUID, createHash } from 'node:crypto';
import { chmodSync } from 'node:fs';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResponder, type Responder, type ResponderLogger } from '../../src/fastcgi/index.js';
import { PeerApp, WireTap, downloadHash, type TappedConnection } from '../fixtures/peer-app.js';
import { NGINX_HOST as HOST, startNginx } from '../helpers/nginx.js';
import { missingApache, startApache, startLighttpd } from '../helpers/webservers.js';
import { Processes, Scratch, freePort, missingPeers, type Started } from '../helpers/peers.js';


// ---------------------------------------------------------------------------
// Plumbing shared by the blocks below.

interface Served {
  responder: Responder;
  app: PeerApp;
  tap: WireTap;
  /** What the responder logged (malformed input, handler failures): expected to stay empty. */
  logged: string[];
}

async function serve(target: string | number): Promise<Served> {
  const app = new PeerApp();
  const logged: string[] = [];
  const logger: ResponderLogger = {
    error: (fields, message) => logged.push(`${message} ${JSON.stringify(fields)}`),
    warn: (fields, message) => logged.push(`${message} ${JSON.stringify(fields)}`),
  };
  const responder = createResponder(app.handle, { logger });
  const tap = new WireTap(responder);
  await responder.listen(target);
  return { responder, app, tap, logged };
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function httpRequest(
  port: number,
  path: string,
  options: { method?: string; body?: Buffer | string; headers?: http.OutgoingHttpHeaders } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: HOST, port, path, method: options.method ?? 'GET', headers: options.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

function json(reply: Reply): Record<string, unknown> {
  expect(reply.headers['content-type'], reply.body.toString()).toMatch(/^application\/json/);
  return JSON.parse(reply.body.toString()) as Record<string, unknown>;
}

/** Every test file's web-server block: Scratch dir (reachable by a server that drops privileges), processes. */
function scratchForPeers(prefix: string): Scratch {
  const scratch = new Scratch(prefix);
  chmodSync(scratch.dir, 0o755);
  return scratch;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * `count` GET /hello requests under `prefix`, one after another, each with a
 * token of its own; each must be answered 200 with the URL it asked for and the
 * FCGI_KEEP_CONN flag `keepConn`. Returns the FastCGI connections that carried
 * each request, in order.
 */
async function helloInTurn(served: Served, port: number, prefix: string, count: number, keepConn: boolean): Promise<TappedConnection[][]> {
  const tokens = Array.from({ length: count }, () => randomUUID());
  for (const t of tokens) {
    const reply = await httpRequest(port, `${prefix}hello?t=${t}`);
    expect(reply.status).toBe(200);
    expect(json(reply)).toMatchObject({ method: 'GET', url: `${prefix}hello?t=${t}`, query: `t=${t}`, keepConn });
  }
  return tokens.map((t) => served.tap.carrying(t));
}

/** Every request rode the same connection, each flagged FCGI_KEEP_CONN, and neither side has closed it. */
function expectOneKeptConnection(carriers: TappedConnection[][]): void {
  const all = new Set(carriers.flat());
  expect(all.size).toBe(1);
  const [conn] = [...all];
  expect(conn!.begins).toEqual(carriers.map(() => true));
  // Neither side closed it: the web server caches it, the responder keeps it as §5.1 asks.
  expect(conn!.socket.destroyed).toBe(false);
}

/** Each request had a connection of its own, without FCGI_KEEP_CONN, which the responder closed. */
async function expectConnectionPerRequest(carriers: TappedConnection[][]): Promise<void> {
  for (const c of carriers) expect(c.map((conn) => conn.begins)).toEqual([[false]]);
  expect(new Set(carriers.flat()).size).toBe(carriers.length);
  await Promise.all(carriers.map((c) => c[0]!.closed));
}

/** A 404 of the application passes through with its header and body. */
async function expectNotFound(port: number, path: string): Promise<void> {
  const reply = await httpRequest(port, path);
  expect(reply.status).toBe(404);
  expect(reply.headers['x-fcgid-route']).toBe('missing');
  expect(reply.body.toString()).toBe('no such thing\n');
}

/** The tests every web server in front of the responder passes under `prefix`: GET with a query, a 1 MB POST, a 404. */
function basicTests(port: () => number, prefix: string, query: string): void {
  it('GET', async () => {
    const reply = await httpRequest(port(), `${prefix}hello?${query}`, { headers: { 'User-Agent': 'peer-test' } });
    expect(reply.status).toBe(200);
    expect(json(reply)).toMatchObject({ method: 'GET', url: `${prefix}hello?${query}`, query, userAgent: 'peer-test' });
  });

  it('POST of 1 MB', async () => {
    const body = randomBytes(1024 * 1024);
    const reply = await httpRequest(port(), `${prefix}echo`, {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length },
    });
    expect(reply.status).toBe(200);
    expect(json(reply)).toMatchObject({ method: 'POST', length: body.length, sha256: sha256(body), contentLength: String(body.length) });
  });

  it('a status other than 200 passes through with its headers', () => expectNotFound(port(), `${prefix}missing`));
}

// ---------------------------------------------------------------------------

const noCgiFcgi = missingPeers('cgi-fcgi');

describe.skipIf(noCgiFcgi !== null)('responder behind cgi-fcgi (libfcgi)', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let served: Served;
  let sock: string;

  beforeAll(async () => {
    scratch = scratchForPeers('fcgid-cgifcgi-');
    sock = scratch.path('app.sock');
    served = await serve(`unix:${sock}`);
  });

  afterAll(async () => {
    await processes.killAll();
    await served?.responder.close();
    scratch?.remove();
  });

  /** Run `cgi-fcgi -bind -connect` as a CGI program would be run: request in the environment, body on stdin. */
  async function cgiFcgi(env: Record<string, string>, body = ''): Promise<{ head: string; body: Buffer; code: number | string; stderr: string }> {
    const p: Started = processes.start('cgi-fcgi', ['-bind', '-connect', sock], {
      stdio: ['pipe', 'pipe', 'pipe'],
      // cgi-fcgi sends its whole environment as params: keep it to the request.
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', GATEWAY_INTERFACE: 'CGI/1.1', SERVER_PROTOCOL: 'HTTP/1.1', ...env },
    });
    const out: Buffer[] = [];
    let stderr = '';
    p.child.stdout!.on('data', (c: Buffer) => out.push(c));
    p.child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    p.child.stdin!.end(body);
    const code = await p.exited;
    const all = Buffer.concat(out);
    const split = all.indexOf('\r\n\r\n');
    expect(split, `no CGI head in cgi-fcgi output: ${all.toString()}`).toBeGreaterThan(0);
    return { head: all.subarray(0, split).toString('latin1'), body: all.subarray(split + 4), code, stderr };
  }

  it('GET: the CGI environment becomes the request; the answer comes back as a CGI response', async () => {
    const r = await cgiFcgi({ REQUEST_METHOD: 'GET', REQUEST_URI: '/cgi/hello?a=1&b=two', QUERY_STRING: 'a=1&b=two', HTTP_USER_AGENT: 'cgi-test/1' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.head).toMatch(/^Status: 200 OK\r\n/);
    expect(r.head).toMatch(/\r\nContent-Type: application\/json/);
    expect(JSON.parse(r.body.toString())).toEqual({
      method: 'GET',
      url: '/cgi/hello?a=1&b=two',
      query: 'a=1&b=two',
      keepConn: false,
      userAgent: 'cgi-test/1',
    });
  });

  it('POST: stdin up to CONTENT_LENGTH becomes the body', async () => {
    const body = 'name=fcgid&' + 'x'.repeat(100_000);
    const r = await cgiFcgi(
      { REQUEST_METHOD: 'POST', REQUEST_URI: '/cgi/echo', CONTENT_LENGTH: String(body.length), CONTENT_TYPE: 'application/x-www-form-urlencoded' },
      body,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.head).toMatch(/^Status: 200 OK\r\n/);
    const reply = JSON.parse(r.body.toString()) as Record<string, unknown>;
    expect(reply).toMatchObject({
      method: 'POST',
      length: body.length,
      sha256: sha256(Buffer.from(body)),
      contentType: 'application/x-www-form-urlencoded',
      contentLength: String(body.length),
    });
  });

  it('a status other than 200 reaches the CGI head with its headers', async () => {
    const r = await cgiFcgi({ REQUEST_METHOD: 'GET', REQUEST_URI: '/cgi/missing' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.head).toMatch(/^Status: 404 Not Found\r\n/);
    expect(r.head).toMatch(/\r\nX-Fcgid-Route: missing(\r\n|$)/);
    expect(r.body.toString()).toBe('no such thing\n');
  });

  it('logged nothing', () => {
    expect(served.logged).toEqual([]);
  });
});

// ---------------------------------------------------------------------------

const noNginx = missingPeers('nginx');

describe.skipIf(noNginx !== null)('responder behind nginx', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let viaTcp: Served; // upstream "keep": fastcgi_keep_conn on
  let viaUnix: Served; // fastcgi_keep_conn off
  let port: number;

  beforeAll(async () => {
    scratch = scratchForPeers('fcgid-nginx-');
    const sock = scratch.path('app.sock');
    const tcpPort = await freePort();
    viaTcp = await serve(`tcp://${HOST}:${tcpPort}`);
    viaUnix = await serve(`unix:${sock}`);
    const params = { SCRIPT_NAME: '$fastcgi_script_name' };
    ({ port } = await startNginx(
      processes,
      scratch,
      [
        // The TCP responder, with connections kept (FCGI_KEEP_CONN) and cached.
        { prefix: '/keep/', upstream: 'keep', keepConn: true, params },
        // The unix-socket responder, one connection per request (nginx's default).
        { prefix: '/close/', socket: sock, params },
        // Unbuffered: nginx reads from the application only as fast as the client takes it,
        // so the application meets real back-pressure.
        { prefix: '/stream/', socket: sock, unbuffered: true, params },
      ],
      { upstreams: [{ name: 'keep', server: `${HOST}:${tcpPort}`, keepalive: 4 }], clientMaxBodySize: '64m' },
    ));
  });

  afterAll(async () => {
    await processes.killAll();
    await Promise.all([viaTcp?.responder.close(), viaUnix?.responder.close()]);
    scratch?.remove();
  });

  it('fastcgi_keep_conn on: sequential requests ride one FastCGI connection, each flagged FCGI_KEEP_CONN', async () => {
    expectOneKeptConnection(await helloInTurn(viaTcp, port, '/keep/', 5, true));
  });

  it('fastcgi_keep_conn off: each request gets its own connection, which the responder closes', async () => {
    await expectConnectionPerRequest(await helloInTurn(viaUnix, port, '/close/', 5, false));
  });

  it('a status other than 200 passes through with its headers', () => expectNotFound(port, '/close/missing'));

  it('a 10 MB upload arrives whole (sha256 checked by the handler)', async () => {
    const body = randomBytes(10 * 1024 * 1024);
    const reply = await httpRequest(port, '/keep/echo', {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length },
    });
    expect(reply.status).toBe(200);
    expect(json(reply)).toMatchObject({
      method: 'POST',
      length: body.length,
      sha256: sha256(body),
      contentType: 'application/octet-stream',
      contentLength: String(body.length),
    });
  });

  it('a 50 MB streamed download arrives whole, and the handler met back-pressure on the way', async () => {
    const total = 50 * 1024 * 1024;
    const waitsBefore = viaUnix.app.drainWaits;
    const { status, length, hash, contentLength } = await new Promise<{
      status: number;
      length: number;
      hash: string;
      contentLength: string | undefined;
    }>((resolve, reject) => {
      const req = http.get({ host: HOST, port, path: `/stream/download?bytes=${total}`, agent: false }, (res) => {
        const h = createHash('sha256');
        let n = 0;
        res.on('data', (c: Buffer) => {
          h.update(c);
          n += c.length;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, length: n, hash: h.digest('hex'), contentLength: res.headers['content-length'] }),
        );
        res.on('error', reject);
      });
      req.on('error', reject);
    });
    expect(status).toBe(200);
    expect(contentLength).toBe(String(total));
    expect(length).toBe(total);
    expect(hash).toBe(downloadHash(total));
    expect(viaUnix.app.drainWaits).toBeGreaterThan(waitsBefore);
  });

  /**
   * Ask for a slow stream, hang up after the first bytes, and report what the
   * handler saw and what happened to the FastCGI connection that carried it.
   */
  async function hangUp(served: Served, path: string): Promise<void> {
    const token = randomUUID();
    const started = served.app.slowStarted(token);
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.get({ host: HOST, port, path: `${path}?t=${token}`, agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve(res.statusCode ?? 0);
        });
      });
      req.on('error', reject);
    });
    expect(status).toBe(200);
    const slow = await started;
    const outcome = await slow.done;
    // By the time req emits 'aborted', its signal has fired and its response is closed.
    expect(outcome).toEqual({ how: 'aborted', signalAborted: true, resDestroyed: true, resClosed: true });
    const [conn, ...others] = served.tap.carrying(token);
    expect(others).toEqual([]);
    // What nginx really does (1.22, both with fastcgi_keep_conn on and off): it never
    // sends FCGI_ABORT_REQUEST; it closes the FastCGI connection.
    expect(conn!.aborts).toBe(0);
    await conn!.closed;
  }

  it('client hangs up mid-response, fastcgi_keep_conn off: the handler sees the abort; the responder serves on', async () => {
    await hangUp(viaUnix, '/close/slow');
    const reply = await httpRequest(port, '/close/hello');
    expect(reply.status).toBe(200);
    expect(json(reply)).toMatchObject({ url: '/close/hello' });
  });

  it('client hangs up mid-response, fastcgi_keep_conn on: the handler sees the abort; the responder serves on', async () => {
    await hangUp(viaTcp, '/keep/slow');
    const reply = await httpRequest(port, '/keep/hello');
    expect(reply.status).toBe(200);
    expect(json(reply)).toMatchObject({ url: '/keep/hello', keepConn: true });
  });

  it('logged nothing', () => {
    expect(viaTcp.logged).toEqual([]);
    expect(viaUnix.logged).toEqual([]);
  });
});

// ---------------------------------------------------------------------------

const noLighttpd = missingPeers('lighttpd');

describe.skipIf(noLighttpd !== null)('responder behind lighttpd mod_fastcgi', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let served: Served;
  let port: number;

  beforeAll(async () => {
    scratch = scratchForPeers('fcgid-lighttpd-');
    const sock = scratch.path('app.sock');
    served = await serve(`unix:${sock}`);
    ({ port } = await startLighttpd(processes, scratch, { '/app/': sock }));
  });

  afterAll(async () => {
    await processes.killAll();
    await served?.responder.close();
    scratch?.remove();
  });

  basicTests(() => port, '/app/', 'x=1');

  it('logged nothing', () => {
    expect(served.logged).toEqual([]);
  });
});

// ---------------------------------------------------------------------------

const noApache = missingApache();

describe.skipIf(noApache !== null)('responder behind Apache mod_proxy_fcgi', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let served: Served; // default ProxyPass: a connection per request
  let reused: Served; // enablereuse=on, over TCP
  let port: number;

  beforeAll(async () => {
    scratch = scratchForPeers('fcgid-apache-');
    const sock = scratch.path('app.sock');
    served = await serve(`unix:${sock}`);
    // Apache's children run as User (below) when started as root.
    chmodSync(sock, 0o666);
    const tcpPort = await freePort();
    reused = await serve(`tcp://${HOST}:${tcpPort}`);
    ({ port } = await startApache(processes, scratch, [
      { prefix: '/app/', target: `unix:${sock}|fcgi://localhost/` },
      { prefix: '/reuse/', target: `fcgi://${HOST}:${tcpPort}/`, options: 'enablereuse=on' },
    ]));
  });

  afterAll(async () => {
    await processes.killAll();
    await Promise.all([served?.responder.close(), reused?.responder.close()]);
    scratch?.remove();
  });

  basicTests(() => port, '/app/', 'y=2');

  it('default ProxyPass: no FCGI_KEEP_CONN, a connection per request', async () => {
    await expectConnectionPerRequest(await helloInTurn(served, port, '/app/', 3, false));
  });

  it('enablereuse=on: FCGI_KEEP_CONN set, sequential requests share one connection', async () => {
    expectOneKeptConnection(await helloInTurn(reused, port, '/reuse/', 3, true));
  });

  it('logged nothing', () => {
    expect(served.logged).toEqual([]);
    expect(reused.logged).toEqual([]);
  });
});
