// fcgid's FastCGI client against the real applications it will sit in front of:
// php-cgi (PHP's own FastCGI code), fcgiwrap (libfcgi, running CGI shell scripts)
// and a Flask app under uWSGI's FastCGI protocol. Each peer runs as a child on a
// unix socket in a Scratch dir and answers from the scripts in test/fixtures/, so
// every assertion is about what a real application received from us or sent us:
// query strings, 10 MB bodies (buffered and streamed), CGI Status lines, responses
// over 1 MB, FCGI_STDERR, connection reuse, GET_VALUES.

import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ConnectionClosedError,
  FastCGIClient,
  InactivityTimeoutError,
  cgiParams,
  type FetchResult,
  type HttpLikeRequest,
} from '../../src/fastcgi/index.js';
import { ValueName } from '../../src/protocol/index.js';
import { Processes, Scratch, missingFlask, missingPeers, waitForListen, type Started } from '../helpers/peers.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

// ---------------------------------------------------------------------------
// Plumbing shared by the three peers.

interface Peer {
  address: string;
  /**
   * Params for `route` as a web server would send them to this peer. Every peer
   * serves hello, echo, notfound, big and stderr (test/fixtures/{php,cgi,flask}).
   */
  params(route: string, query?: string, req?: Partial<HttpLikeRequest>): Record<string, string>;
}

/** php-cgi and fcgiwrap find the script from SCRIPT_FILENAME, as behind nginx. */
function scriptPeer(address: string, dir: string, ext: string): Peer {
  return {
    address,
    params: (route, query, req = {}) =>
      cgiParams({
        url: `/${route}.${ext}${query ? `?${query}` : ''}`,
        documentRoot: join(FIXTURES, dir),
        scriptFilename: join(FIXTURES, dir, `${route}.${ext}`),
        ...req,
      }),
  };
}

/** A WSGI app routes on PATH_INFO, with SCRIPT_NAME as its mount point (PEP 3333). */
function wsgiPeer(address: string): Peer {
  return {
    address,
    params: (route, query, req = {}) =>
      cgiParams({
        url: `/${route}${query ? `?${query}` : ''}`,
        ...req,
        params: { SCRIPT_NAME: '', PATH_INFO: `/${route}`, ...req.params },
      }),
  };
}

function postOf(length: number): Partial<HttpLikeRequest> {
  return { method: 'POST', contentLength: length, headers: { 'Content-Type': 'application/octet-stream' } };
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** What test/fixtures/{php/big.php,cgi/big.sh,flask/app.py} send: 1,300,000 bytes. */
const BIG = Buffer.from(Array.from({ length: 100_000 }, (_, i) => `line ${String(i).padStart(7, '0')}\n`).join(''));

/** Chunks of uneven sizes, so record boundaries fall everywhere in the body. */
function* unevenChunks(data: Buffer): Generator<Buffer> {
  const sizes = [1, 7, 8191, 65535, 65536, 65537, 300_000, 1_000_003];
  for (let at = 0, i = 0; at < data.length; i++) {
    const n = sizes[i % sizes.length]!;
    yield data.subarray(at, at + n);
    at += n;
  }
}

function text(r: FetchResult): string {
  return r.body.toString('utf8');
}

/** One request for `route` on a client of its own, closed afterwards. */
async function fetchOnce(peer: Peer, route: string, query?: string): Promise<FetchResult> {
  const client = new FastCGIClient({ address: peer.address });
  try {
    return await client.fetch({ params: peer.params(route, query) });
  } finally {
    client.close();
  }
}

/**
 * `count` hello requests in turn on `client`, named `${prefix}0`, `${prefix}1`…;
 * each must be answered 200 with its own name. Returns the X-Pid header of each answer.
 */
async function hellosInTurn(client: FastCGIClient, peer: Peer, prefix: string, count: number): Promise<string[]> {
  const pids: string[] = [];
  for (let i = 0; i < count; i++) {
    const res = await client.fetch({ params: peer.params('hello', `name=${prefix}${i}`) });
    expect(res.status).toBe(200);
    expect(text(res).split('\n')[0]).toBe(`hello ${prefix}${i}`);
    pids.push(String(res.headers['x-pid']));
  }
  return pids;
}

/** Resolves once the process has written `needle` to stdout or stderr; rejects if it exits first. */
function waitForOutput(p: Started, needle: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (!p.output().includes(needle)) return;
      done();
      resolve();
    };
    const exited = (): void => {
      done();
      reject(new Error(`process ${p.pid} exited before writing ${JSON.stringify(needle)}:\n${p.output()}`));
    };
    const done = (): void => {
      p.child.stdout?.off('data', check);
      p.child.stderr?.off('data', check);
      p.child.off('exit', exited);
    };
    // Processes.start's own listeners run first, so output() already has the chunk.
    p.child.stdout?.on('data', check);
    p.child.stderr?.on('data', check);
    p.child.once('exit', exited);
    check();
  });
}

/** A unix-socket relay in front of an application that counts the connections it accepts. */
class CountingProxy {
  accepted = 0;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(readonly path: string, target: string) {
    this.server = net.createServer((down) => {
      this.accepted++;
      const up = net.connect(target);
      for (const s of [down, up]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          down.destroy();
          up.destroy();
        });
      }
      down.pipe(up);
      up.pipe(down);
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.path, () => resolve());
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** Tests every peer must pass; `peer()` is read when each test runs. */
function commonTests(peer: () => Peer): void {
  let client: FastCGIClient | undefined;
  const open = (): FastCGIClient => (client = new FastCGIClient({ address: peer().address }));
  afterEach(() => client?.close());

  it('GET with a query string: the app sees method and query, status 200', async () => {
    const res = await open().fetch({ params: peer().params('hello', 'name=world&n=42') });
    expect(res.status).toBe(200);
    expect(res.protocolStatus).toBe(0);
    expect(String(res.headers['content-type'])).toMatch(/^text\/plain/);
    expect(text(res)).toBe('hello world\nmethod GET\nquery name=world&n=42\n');
  });

  it('POST of a 10 MB body: the app receives every byte (length and sha256 match)', async () => {
    const body = randomBytes(10 * 1024 * 1024);
    const res = await open().fetch({ params: peer().params('echo', '', postOf(body.length)), body });
    expect(res.status).toBe(200);
    expect(text(res)).toBe(`length ${body.length}\nsha256 ${sha256(body)}\n`);
  });

  it('POST of a 10 MB body from a Readable in uneven chunks: the app receives every byte', async () => {
    const body = randomBytes(10 * 1024 * 1024);
    const stream = Readable.from(unevenChunks(body), { objectMode: false });
    const res = await open().fetch({ params: peer().params('echo', '', postOf(body.length)), body: stream });
    expect(res.status).toBe(200);
    expect(text(res)).toBe(`length ${body.length}\nsha256 ${sha256(body)}\n`);
  });

  it('a CGI "Status: 404" line becomes status 404, with the body after the head', async () => {
    const res = await open().fetch({ params: peer().params('notfound') });
    expect(res.status).toBe(404);
    // Werkzeug spells it "NOT FOUND"; PHP and the script "Not Found".
    expect(res.statusText.toLowerCase()).toBe('not found');
    expect(text(res)).toBe('no such thing\n');
    expect(res.headers.status).toBeUndefined();
  });

  it('a response of 1.3 MB arrives whole and in order', async () => {
    const res = await open().fetch({ params: peer().params('big') });
    expect(res.status).toBe(200);
    expect(res.body.length).toBe(BIG.length);
    expect(res.body.equals(BIG)).toBe(true);
  });

  it('the same client serves several requests in a row, each answered correctly', async () => {
    await hellosInTurn(open(), peer(), 'n', 5);
  });
}

// ---------------------------------------------------------------------------
// php-cgi

const PHP_CHILDREN = 2;

function startPhp(processes: Processes, sock: string, env: Record<string, string>): Started {
  // -n: no php.ini, so the test does not depend on the distribution's; every
  // setting it relies on is given here. post_max_size defaults to 8M, under the
  // 10 MB POST. log_errors with no error_log file sends error_log() to FCGI_STDERR.
  return processes.start(
    'php-cgi',
    ['-n', '-d', 'post_max_size=64M', '-d', 'log_errors=1', '-d', 'display_errors=0', '-b', sock],
    { env: { ...process.env, ...env } },
  );
}

describe.skipIf(missingPeers('php-cgi'))('FastCGIClient against php-cgi', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let php: Started;
  let peer: Peer;

  beforeAll(async () => {
    scratch = new Scratch('fcgid-client-php-');
    const sock = scratch.path('php.sock');
    // PHP_FCGI_MAX_REQUESTS high enough that no child recycles during these tests
    // (the default 500 would not either; the recycling test below sets its own).
    php = startPhp(processes, sock, { PHP_FCGI_CHILDREN: String(PHP_CHILDREN), PHP_FCGI_MAX_REQUESTS: '10000' });
    await waitForListen({ path: sock }, php);
    peer = scriptPeer(sock, 'php', 'php');
  });

  afterAll(async () => {
    await processes.killAll();
    scratch?.remove();
  });

  commonTests(() => peer);

  it('error_log() text arrives on the client stderr stream (FCGI_STDERR), not in the body', async () => {
    const res = await fetchOnce(peer, 'stderr', 'tag=php42');
    expect(res.status).toBe(200);
    expect(text(res)).toBe('logged\n');
    // sapi_cgi_log_message writes the message and then "\n" as FCGI_STDERR.
    expect(res.stderr.toString()).toBe('php-stderr-marker php42\n');
  });

  it('a SCRIPT_FILENAME that does not exist: php-cgi itself answers 404 "No input file specified."', async () => {
    const res = await fetchOnce(peer, 'does-not-exist');
    expect(res.status).toBe(404);
    expect(text(res)).toBe('No input file specified.\n');
  });

  it('keepConn: five requests share one connection and one php-cgi child; without it, five connections', async () => {
    const proxy = new CountingProxy(scratch.path('proxy.sock'), peer.address);
    await proxy.listen();
    const kept = new FastCGIClient({ address: proxy.path, keepConn: true });
    const fresh = new FastCGIClient({ address: proxy.path, keepConn: false });
    try {
      const pids = await hellosInTurn(kept, peer, 'k', 5);
      expect(proxy.accepted).toBe(1);
      expect(new Set(pids).size).toBe(1);

      for (let i = 0; i < 5; i++) {
        const res = await fresh.fetch({ params: peer.params('hello', `name=f${i}`) });
        expect(res.status).toBe(200);
      }
      expect(proxy.accepted).toBe(6);
    } finally {
      kept.close();
      fresh.close();
      await proxy.close();
    }
  });

  it('FCGI_GET_VALUES: php-cgi answers with its children count and no multiplexing', async () => {
    const client = new FastCGIClient({ address: peer.address });
    const values = await client.getValues();
    expect(Object.fromEntries(values)).toEqual({
      [ValueName.MAX_CONNS]: String(PHP_CHILDREN),
      [ValueName.MAX_REQS]: String(PHP_CHILDREN),
      [ValueName.MPXS_CONNS]: '0',
    });
  });

  it('keepConn across php-cgi recycling (PHP_FCGI_MAX_REQUESTS=2): every request succeeds, two per child', async () => {
    // The child exits right after its second END_REQUEST and so closes the kept
    // connection under the client, which must notice and go on with a fresh one.
    const sock = scratch.path('php-recycle.sock');
    const recycling = startPhp(processes, sock, { PHP_FCGI_CHILDREN: '1', PHP_FCGI_MAX_REQUESTS: '2' });
    await waitForListen({ path: sock }, recycling);
    const client = new FastCGIClient({ address: sock, keepConn: true });
    try {
      const pids = await hellosInTurn(client, peer, 'r', 6);
      const [a, b, c] = [pids[0], pids[2], pids[4]];
      expect(pids).toEqual([a, a, b, b, c, c]);
      expect(new Set([a, b, c]).size).toBe(3);
    } finally {
      client.close();
      await processes.stop(recycling);
    }
  });
});

// ---------------------------------------------------------------------------
// fcgiwrap

describe.skipIf(missingPeers('fcgiwrap'))('FastCGIClient against fcgiwrap (CGI shell scripts)', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let peer: Peer;

  beforeAll(async () => {
    scratch = new Scratch('fcgid-client-fcgiwrap-');
    // fcgiwrap runs only executable files (403 otherwise); a checkout may lose the bit.
    for (const f of readdirSync(join(FIXTURES, 'cgi'))) chmodSync(join(FIXTURES, 'cgi', f), 0o755);
    const sock = scratch.path('fcgiwrap.sock');
    // -f: send the script's stderr as FCGI_STDERR; without it, fcgiwrap writes it
    // to its own stderr. -c 1: one process, which serves one connection at a time.
    const wrap = processes.start('fcgiwrap', ['-f', '-c', '1', '-s', `unix:${sock}`]);
    await waitForListen({ path: sock }, wrap);
    peer = scriptPeer(sock, 'cgi', 'sh');
  });

  afterAll(async () => {
    await processes.killAll();
    scratch?.remove();
  });

  commonTests(() => peer);

  it("the script's stderr arrives on the client stderr stream (FCGI_STDERR), not in the body", async () => {
    const res = await fetchOnce(peer, 'stderr', 'tag=cgi42');
    expect(res.status).toBe(200);
    expect(text(res)).toBe('logged\n');
    // fcgiwrap 1.1.0 runs stderr through the same header scanner as stdout: a
    // line read before the script's blank line on stdout comes out with CRLF,
    // one read after it unchanged. Which one wins is a race (about half each).
    expect(res.stderr.toString()).toMatch(/^cgi-stderr-marker cgi42\r?\n$/);
  });

  it('a SCRIPT_FILENAME that does not exist: fcgiwrap answers 403 and says why on FCGI_STDERR', async () => {
    const res = await fetchOnce(peer, 'does-not-exist');
    // fcgiwrap does not tell a missing script from one it may not run.
    expect(res.status).toBe(403);
    expect(text(res)).toBe('403 Forbidden\r\n');
    expect(res.stderr.toString()).toMatch(/^Cannot get script name/);
  });

  it('FCGI_GET_VALUES goes unanswered by fcgiwrap (libfcgi): the client gives up after its timeout', async () => {
    // Seen with fcgiwrap 1.1.0: nothing comes back and the connection stays open,
    // so only the client's inactivity timeout ends the wait. Regression: that
    // timeout used to end requests only, and getValues() waited forever.
    const client = new FastCGIClient({ address: peer.address, timeout: 300 });
    try {
      await expect(client.getValues()).rejects.toBeInstanceOf(InactivityTimeoutError);
      // fcgiwrap serves the next connection as usual.
      const res = await client.fetch({ params: peer.params('hello', 'name=after') });
      expect(text(res).split('\n')[0]).toBe('hello after');
    } finally {
      client.close();
    }
  });
});

// ---------------------------------------------------------------------------
// Flask under uWSGI

describe.skipIf(missingFlask())('FastCGIClient against Flask under uWSGI --fastcgi-socket', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let uwsgi: Started;
  let peer: Peer;

  beforeAll(async () => {
    scratch = new Scratch('fcgid-client-uwsgi-');
    const sock = scratch.path('uwsgi.sock');
    // --need-app: a failed import ends uWSGI instead of answering every test with
    // a 500. uWSGI finds its plugins in /usr/lib/uwsgi/plugins without --plugins-dir.
    uwsgi = processes.start(
      'uwsgi',
      [
        '--plugin', 'python3',
        '--fastcgi-socket', sock,
        '--wsgi-file', join(FIXTURES, 'flask', 'app.py'),
        '--callable', 'app',
        '--need-app',
        '--master',
        '--processes', '1',
        '--disable-logging', // no per-request log lines; wsgi.errors still goes to stderr
      ],
      { env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } },
    );
    await waitForListen({ path: sock }, uwsgi);
    peer = wsgiPeer(sock);
  });

  afterAll(async () => {
    await processes.killAll();
    scratch?.remove();
  });

  commonTests(() => peer);

  it('wsgi.errors does not travel as FCGI_STDERR: uWSGI writes it to its own stderr', async () => {
    // uWSGI's FastCGI protocol (proto/fastcgi.c) only ever sends STDOUT and
    // END_REQUEST; the WSGI error stream is uWSGI's log, here the process's stderr.
    const logged = waitForOutput(uwsgi, 'flask-stderr-marker flask42\n');
    const res = await fetchOnce(peer, 'stderr', 'tag=flask42');
    expect(res.status).toBe(200);
    expect(text(res)).toBe('logged\n');
    expect(res.stderr.length).toBe(0);
    await logged;
  });

  it('a route Flask does not know: 404 from Werkzeug, HTML body', async () => {
    const res = await fetchOnce(peer, 'does-not-exist');
    expect(res.status).toBe(404);
    expect(String(res.headers['content-type'])).toMatch(/^text\/html/);
    expect(text(res)).toContain('<h1>Not Found</h1>');
  });

  it('uWSGI ignores FCGI_KEEP_CONN and closes after every request; a keepConn client still gets every answer', async () => {
    // FastCGI §5.1 says the application keeps the connection when FCGI_KEEP_CONN
    // is set; uWSGI 2.0.21 closes it after END_REQUEST regardless. The client
    // reuses the connection before it sees the close, and must start over on a
    // fresh one (as nginx does for a cached upstream connection).
    const proxy = new CountingProxy(scratch.path('proxy.sock'), peer.address);
    await proxy.listen();
    const client = new FastCGIClient({ address: proxy.path, keepConn: true });
    try {
      await hellosInTurn(client, peer, 'k', 5);
      expect(proxy.accepted).toBe(5);
    } finally {
      client.close();
      await proxy.close();
    }
  });

  it('regression: a request failing before its head raised an unhandled error on STDOUT', async () => {
    // The STDOUT stream of a request whose head never came was
    // destroyed with the error although nobody held it yet, which raised an
    // unhandled 'error' event. A streamed body cannot be replayed, so this
    // request fails on the connection uWSGI closed instead of being retried.
    const client = new FastCGIClient({ address: peer.address, keepConn: true });
    try {
      const first = await client.fetch({ params: peer.params('hello', 'name=one') });
      expect(first.status).toBe(200);
      const body = Readable.from([Buffer.from('abc')]);
      const second = client.fetch({ params: peer.params('echo', '', postOf(3)), body });
      await expect(second).rejects.toBeInstanceOf(ConnectionClosedError);
    } finally {
      client.close();
    }
  });
});
