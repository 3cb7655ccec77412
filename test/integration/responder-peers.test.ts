// fcgid's responder behind the real clients it will meet: cgi-fcgi (libfcgi),
// nginx (with and without fastcgi_keep_conn, big bodies both ways, a client that
// hangs up), lighttpd's mod_fastcgi and Apache's mod_proxy_fcgi. The application
// (test/fixtures/peer-app.ts) runs in this process on createResponder, so each
// test can see what the request looked like from inside and which FastCGI
// connection carried it; the web servers run as children, on config files and
// sockets in a Scratch dir.

import { randomBytes, randomUUID, createHash } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResponder, type Responder, type ResponderLogger } from '../../src/fastcgi/index.js';
import { PeerApp, WireTap, downloadHash } from '../fixtures/peer-app.js';
import { Processes, Scratch, freePort, missingFiles, missingPeers, waitForListen, type Started } from '../helpers/peers.js';

const HOST = '127.0.0.1';

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

function nginxConf(dir: string, httpPort: number, tcpPort: number, sock: string): string {
  return `
master_process off;
worker_processes 1;
error_log ${dir}/nginx-error.log info;
pid ${dir}/nginx.pid;
events { worker_connections 256; }
http {
  access_log ${dir}/nginx-access.log;
  client_body_temp_path ${dir}/client_body;
  fastcgi_temp_path ${dir}/fastcgi_temp;
  proxy_temp_path ${dir}/proxy_temp;
  scgi_temp_path ${dir}/scgi_temp;
  uwsgi_temp_path ${dir}/uwsgi_temp;
  client_max_body_size 64m;

  fastcgi_param QUERY_STRING $query_string;
  fastcgi_param REQUEST_METHOD $request_method;
  fastcgi_param CONTENT_TYPE $content_type;
  fastcgi_param CONTENT_LENGTH $content_length;
  fastcgi_param SCRIPT_NAME $fastcgi_script_name;
  fastcgi_param REQUEST_URI $request_uri;
  fastcgi_param DOCUMENT_URI $document_uri;
  fastcgi_param SERVER_PROTOCOL $server_protocol;
  fastcgi_param GATEWAY_INTERFACE CGI/1.1;
  fastcgi_param SERVER_SOFTWARE nginx/$nginx_version;
  fastcgi_param REMOTE_ADDR $remote_addr;
  fastcgi_param REMOTE_PORT $remote_port;
  fastcgi_param SERVER_ADDR $server_addr;
  fastcgi_param SERVER_PORT $server_port;
  fastcgi_param SERVER_NAME $server_name;
  fastcgi_param HTTP_USER_AGENT $http_user_agent;

  # The TCP responder, with connections kept (FCGI_KEEP_CONN) and cached.
  upstream keep {
    server ${HOST}:${tcpPort};
    keepalive 4;
  }

  server {
    listen ${HOST}:${httpPort};
    server_name localhost;

    location /keep/ {
      fastcgi_pass keep;
      fastcgi_keep_conn on;
    }
    # The unix-socket responder, one connection per request (nginx's default).
    location /close/ {
      fastcgi_pass unix:${sock};
    }
    # Unbuffered: nginx reads from the application only as fast as the client takes it,
    # so the application meets real back-pressure.
    location /stream/ {
      fastcgi_pass unix:${sock};
      fastcgi_buffering off;
    }
  }
}
`;
}

describe.skipIf(noNginx !== null)('responder behind nginx', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let viaTcp: Served; // upstream "keep": fastcgi_keep_conn on
  let viaUnix: Served; // fastcgi_keep_conn off
  let port: number;
  let nginx: Started;

  beforeAll(async () => {
    scratch = scratchForPeers('fcgid-nginx-');
    const sock = scratch.path('app.sock');
    const tcpPort = await freePort();
    viaTcp = await serve(`tcp://${HOST}:${tcpPort}`);
    viaUnix = await serve(`unix:${sock}`);
    port = await freePort();
    writeFileSync(scratch.path('nginx.conf'), nginxConf(scratch.dir, port, tcpPort, sock));
    nginx = processes.start('nginx', ['-p', scratch.dir, '-c', scratch.path('nginx.conf'), '-g', 'daemon off;']);
    await waitForListen({ host: HOST, port }, nginx);
  });

  afterAll(async () => {
    await processes.killAll();
    await Promise.all([viaTcp?.responder.close(), viaUnix?.responder.close()]);
    scratch?.remove();
  });

  it('fastcgi_keep_conn on: sequential requests ride one FastCGI connection, each flagged FCGI_KEEP_CONN', async () => {
    const tokens = Array.from({ length: 5 }, () => randomUUID());
    for (const t of tokens) {
      const reply = await httpRequest(port, `/keep/hello?t=${t}`);
      expect(reply.status).toBe(200);
      expect(json(reply)).toMatchObject({ method: 'GET', url: `/keep/hello?t=${t}`, query: `t=${t}`, keepConn: true });
    }
    const carriers = new Set(tokens.flatMap((t) => viaTcp.tap.carrying(t)));
    expect(carriers.size).toBe(1);
    const [conn] = [...carriers];
    expect(conn!.begins).toEqual([true, true, true, true, true]);
    // Neither side closed it: nginx caches it, the responder keeps it as §5.1 asks.
    expect(conn!.socket.destroyed).toBe(false);
  });

  it('fastcgi_keep_conn off: each request gets its own connection, which the responder closes', async () => {
    const tokens = Array.from({ length: 5 }, () => randomUUID());
    for (const t of tokens) {
      const reply = await httpRequest(port, `/close/hello?t=${t}`);
      expect(reply.status).toBe(200);
      expect(json(reply)).toMatchObject({ url: `/close/hello?t=${t}`, keepConn: false });
    }
    const carriers = tokens.map((t) => viaUnix.tap.carrying(t));
    for (const c of carriers) expect(c).toHaveLength(1);
    expect(new Set(carriers.flat()).size).toBe(5);
    for (const c of carriers) expect(c[0]!.begins).toEqual([false]);
    await Promise.all(carriers.map((c) => c[0]!.closed));
  });

  it('a status other than 200 passes through with its headers', async () => {
    const reply = await httpRequest(port, '/close/missing');
    expect(reply.status).toBe(404);
    expect(reply.headers['x-fcgid-route']).toBe('missing');
    expect(reply.body.toString()).toBe('no such thing\n');
  });

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
    port = await freePort();
    mkdirSync(scratch.path('htdocs'));
    mkdirSync(scratch.path('upload'));
    writeFileSync(
      scratch.path('lighttpd.conf'),
      `
server.modules = ( "mod_fastcgi" )
server.document-root = "${scratch.path('htdocs')}"
server.bind = "${HOST}"
server.port = ${port}
server.errorlog = "${scratch.path('lighttpd-error.log')}"
server.upload-dirs = ( "${scratch.path('upload')}" )
fastcgi.server = ( "/app/" => ( ( "socket" => "${sock}", "check-local" => "disable" ) ) )
`,
    );
    const lighttpd = processes.start('lighttpd', ['-D', '-f', scratch.path('lighttpd.conf')]);
    await waitForListen({ host: HOST, port }, lighttpd);
  });

  afterAll(async () => {
    await processes.killAll();
    await served?.responder.close();
    scratch?.remove();
  });

  it('GET', async () => {
    const reply = await httpRequest(port, '/app/hello?x=1', { headers: { 'User-Agent': 'peer-test' } });
    expect(reply.status).toBe(200);
    expect(json(reply)).toMatchObject({ method: 'GET', url: '/app/hello?x=1', query: 'x=1', userAgent: 'peer-test' });
  });

  it('POST of 1 MB', async () => {
    const body = randomBytes(1024 * 1024);
    const reply = await httpRequest(port, '/app/echo', {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length },
    });
    expect(reply.status).toBe(200);
    expect(json(reply)).toMatchObject({ method: 'POST', length: body.length, sha256: sha256(body), contentLength: String(body.length) });
  });

  it('a status other than 200 passes through with its headers', async () => {
    const reply = await httpRequest(port, '/app/missing');
    expect(reply.status).toBe(404);
    expect(reply.headers['x-fcgid-route']).toBe('missing');
  });

  it('logged nothing', () => {
    expect(served.logged).toEqual([]);
  });
});

// ---------------------------------------------------------------------------

const APACHE_MODULES = '/usr/lib/apache2/modules';
const noApache =
  missingPeers('apache2') ??
  missingFiles(...['mod_mpm_prefork', 'mod_authz_core', 'mod_proxy', 'mod_proxy_fcgi'].map((m) => `${APACHE_MODULES}/${m}.so`));

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
    port = await freePort();
    mkdirSync(scratch.path('htdocs'));
    mkdirSync(scratch.path('run'));
    writeFileSync(
      scratch.path('httpd.conf'),
      `
ServerRoot "${scratch.dir}"
ServerName localhost
Listen ${HOST}:${port}
LoadModule mpm_prefork_module ${APACHE_MODULES}/mod_mpm_prefork.so
LoadModule authz_core_module ${APACHE_MODULES}/mod_authz_core.so
LoadModule proxy_module ${APACHE_MODULES}/mod_proxy.so
LoadModule proxy_fcgi_module ${APACHE_MODULES}/mod_proxy_fcgi.so
User nobody
Group nogroup
PidFile "${scratch.path('run', 'httpd.pid')}"
DefaultRuntimeDir "${scratch.path('run')}"
ErrorLog "${scratch.path('apache-error.log')}"
LogLevel warn
DocumentRoot "${scratch.path('htdocs')}"
ProxyPass "/app/" "unix:${sock}|fcgi://localhost/"
ProxyPass "/reuse/" "fcgi://${HOST}:${tcpPort}/" enablereuse=on
`,
    );
    const apache = processes.start('apache2', ['-X', '-f', scratch.path('httpd.conf')]);
    await waitForListen({ host: HOST, port }, apache);
  });

  afterAll(async () => {
    await processes.killAll();
    await Promise.all([served?.responder.close(), reused?.responder.close()]);
    scratch?.remove();
  });

  it('GET', async () => {
    const reply = await httpRequest(port, '/app/hello?y=2', { headers: { 'User-Agent': 'peer-test' } });
    expect(reply.status).toBe(200);
    expect(json(reply)).toMatchObject({ method: 'GET', url: '/app/hello?y=2', query: 'y=2', userAgent: 'peer-test' });
  });

  it('POST of 1 MB', async () => {
    const body = randomBytes(1024 * 1024);
    const reply = await httpRequest(port, '/app/echo', {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length },
    });
    expect(reply.status).toBe(200);
    expect(json(reply)).toMatchObject({ method: 'POST', length: body.length, sha256: sha256(body), contentLength: String(body.length) });
  });

  it('a status other than 200 passes through with its headers', async () => {
    const reply = await httpRequest(port, '/app/missing');
    expect(reply.status).toBe(404);
    expect(reply.headers['x-fcgid-route']).toBe('missing');
  });

  it('default ProxyPass: no FCGI_KEEP_CONN, a connection per request', async () => {
    const tokens = [randomUUID(), randomUUID(), randomUUID()];
    for (const t of tokens) {
      const reply = await httpRequest(port, `/app/hello?t=${t}`);
      expect(json(reply)).toMatchObject({ query: `t=${t}`, keepConn: false });
    }
    const carriers = tokens.map((t) => served.tap.carrying(t));
    for (const c of carriers) expect(c.map((conn) => conn.begins)).toEqual([[false]]);
    await Promise.all(carriers.map((c) => c[0]!.closed));
  });

  it('enablereuse=on: FCGI_KEEP_CONN set, sequential requests share one connection', async () => {
    const tokens = [randomUUID(), randomUUID(), randomUUID()];
    for (const t of tokens) {
      const reply = await httpRequest(port, `/reuse/hello?t=${t}`);
      expect(reply.status).toBe(200);
      expect(json(reply)).toMatchObject({ query: `t=${t}`, keepConn: true });
    }
    const carriers = new Set(tokens.flatMap((t) => reused.tap.carrying(t)));
    expect(carriers.size).toBe(1);
    const [conn] = [...carriers];
    expect(conn!.begins).toEqual([true, true, true]);
    expect(conn!.socket.destroyed).toBe(false);
  });

  it('logged nothing', () => {
    expect(served.logged).toEqual([]);
    expect(reused.logged).toEqual([]);
  });
});
