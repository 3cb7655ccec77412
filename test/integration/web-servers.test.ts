// What `fcgid web-config` prints, run in the real web servers as they run in
// production (workers as www-data): nginx, Apache with mod_proxy_fcgi (a
// virtual host, and the .htaccess of a shared host) and lighttpd, each in
// front of a Flask app under flup (threaded and forking) and uWSGI, a Node
// responder, php-cgi and fcgiwrap, mounted at / and under a prefix. Each must
// route, build url_for links under the mount, pass a POST body, serve static
// files itself and answer 500 where the app fails; and `fcgictl request` must
// get what the browser gets.

import { chmodSync, cpSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fcgictl } from '../helpers/control.js';
import { FCGID_BIN, Fcgid, flaskPool, flupPool, phpPool, tearDown, writeConfig } from '../helpers/daemon.js';
import { Processes, Scratch, freePort, missingFlask, missingFlup, missingPeers, runToEnd, type Started } from '../helpers/peers.js';
import { httpRequest, missingProductionServers, startGenerated, type GeneratedServer } from '../helpers/webservers.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/web/', import.meta.url));
const missing = missingPeers('php-cgi', 'fcgiwrap') ?? missingFlup() ?? missingFlask() ?? missingProductionServers();

const SERVERS: GeneratedServer[] = ['nginx', 'apache', 'apache-htaccess', 'lighttpd'];
const POOLS = [
  { pool: 'flask-root', kind: 'app', mount: '/' },
  { pool: 'flask-sub', kind: 'app', mount: '/sub' },
  { pool: 'uwsgi-sub', kind: 'app', mount: '/py' },
  { pool: 'node-sub', kind: 'app', mount: '/node' },
  { pool: 'php-root', kind: 'php', mount: '/' },
  { pool: 'php-sub', kind: 'php', mount: '/sub' },
  { pool: 'cgi-bin', kind: 'cgi', mount: '/cgi-bin' },
] as const;

describe.skipIf(missing)('generated web server configs, in the real servers', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let d: Fcgid;
  let file: string;
  /** site/ is the docroot at /, site/sub/ the one under /sub: php scripts and static files, readable by www-data. */
  let site: string;

  beforeAll(async () => {
    scratch = new Scratch();
    // www-data must get through to the sockets, the scripts and the static files.
    chmodSync(scratch.dir, 0o755);
    site = scratch.path('site');
    for (const dir of [site, `${site}/sub`]) cpSync(`${FIXTURES}/php`, dir, { recursive: true });
    // Each app's static files where its mount is, as the .htaccess variant needs them.
    for (const dir of ['', '/sub', '/py', '/node']) cpSync(`${FIXTURES}/public`, `${site}${dir}/static`, { recursive: true });
    cpSync(`${FIXTURES}/../cgi`, `${site}/cgi-bin`, { recursive: true });
    const sock = (name: string): string => `unix:${scratch.path('run', `${name}.sock`)}`;
    const open = { socket_group: 'www-data', socket_mode: '0660' };
    file = writeConfig(scratch, 'web', {
      pools: {
        'flask-root': flupPool(sock('flask-root'), { ...open, command: ['/usr/bin/python3', `${FIXTURES}/app.fcgi`], web: { static: { '/static': `${site}/static` } } }),
        // flup's forking server under the prefix, its threaded one at /.
        'flask-sub': flupPool(
          sock('flask-sub'),
          { ...open, command: ['/usr/bin/python3', `${FIXTURES}/app.fcgi`], web: { mount: '/sub', static: { '/sub/static': `${site}/sub/static` } } },
          { FLUP_SERVER: 'fork' },
        ),
        'php-root': phpPool(sock('php-root'), { ...open, web: { root: site } }),
        'php-sub': phpPool(sock('php-sub'), { ...open, web: { mount: '/sub', root: `${site}/sub` } }),
        // The same Flask app under uWSGI, and the pages on fcgid's Node responder.
        'uwsgi-sub': flaskPool(`${FIXTURES}/app.fcgi`, sock('uwsgi-sub'), { ...open, web: { mount: '/py', static: { '/py/static': `${site}/py/static` } } }),
        'node-sub': { command: [process.execPath, `${FIXTURES}/app.mjs`], socket_fd: 3, listen: sock('node-sub'), ...open, web: { mount: '/node', static: { '/node/static': `${site}/node/static` } } },
        'cgi-bin': { command: '/usr/sbin/fcgiwrap', listen: sock('cgi-bin'), ...open, web: { mount: '/cgi-bin', root: `${site}/cgi-bin` } },
        // The socket as fcgid makes it when nothing is said: root's, mode from the umask.
        closed: phpPool(sock('closed'), { web: { root: site } }),
      },
    });
    d = new Fcgid(processes, file);
    for (const { pool } of POOLS) await d.waitForRunning(pool, 1, 30_000);
  });

  afterAll(async () => {
    await tearDown(processes, scratch, [d]);
  });

  /** `fcgid web-config` for this server and pool, as a person runs it; stdout and stderr. */
  async function webConfig(server: GeneratedServer, pool: string, port: number): Promise<{ stdout: string; stderr: string }> {
    const args = [FCGID_BIN, 'web-config', server === 'apache-htaccess' ? 'apache' : server, pool, '-c', file, '--listen', `127.0.0.1:${port}`, '--web-user', 'www-data'];
    if (server === 'apache-htaccess') args.push('--htaccess');
    const r = await runToEnd(processes, process.execPath, args);
    expect(r.status, r.stderr).toBe(0);
    return r;
  }

  /** The server running the pool's generated config; stopped by the caller. */
  async function serve(server: GeneratedServer, pool: string, mount: string): Promise<{ port: number; proc: Started; snippet: string }> {
    const port = await freePort();
    const { stdout } = await webConfig(server, pool, port);
    let snippet = stdout;
    if (server === 'apache-htaccess') {
      // The .htaccess goes in the directory served at the mount.
      writeFileSync(`${site}${mount === '/' ? '' : mount}/.htaccess`, stdout);
      snippet = '';
    }
    const proc = await startGenerated(processes, scratch, server, port, snippet, site);
    return { port, proc, snippet: stdout };
  }

  async function stop(proc: Started): Promise<void> {
    await processes.stop(proc);
    rmSync(`${site}/.htaccess`, { force: true });
    rmSync(`${site}/sub/.htaccess`, { force: true });
  }

  /** What fcgictl request answers: exit status, and the body (stdout). */
  async function ctlRequest(pool: string, path: string, data?: string): Promise<{ status: number | string; body: string }> {
    const r = await fcgictl(processes, ['-c', file, 'request', pool, path, ...(data === undefined ? [] : ['-X', 'POST', '-d', data, '-H', 'Content-Type: application/x-www-form-urlencoded'])]);
    return { status: r.status, body: r.stdout };
  }

  for (const server of SERVERS) {
    for (const { pool, kind, mount } of POOLS) {
      const base = mount === '/' ? '' : mount;
      it(`${server}: ${pool} (${kind} at ${mount})`, async () => {
        const { port, proc } = await serve(server, pool, mount);
        const get = (path: string) => httpRequest(port, 'GET', path);
        try {
          if (kind === 'app') {
            const index = await get(`${base}/`);
            expect(index.status, index.body).toBe(200);
            expect(index.body).toContain(`SCRIPT_NAME='${base}' PATH_INFO='/'`);
            expect(index.body).toContain(`news ${base}/news/1\n`);
            expect(index.body).toContain(`static ${base}/static/hello.txt\n`);
            const news = await get(`${base}/news/1`);
            expect(news.status, news.body).toBe(200);
            expect(news.body).toContain('news item 1');
            const statics = await get(`${base}/static/hello.txt`);
            expect(statics.status).toBe(200);
            expect(statics.body).toBe('hello.txt from the disk, served by the web server\n');
            const posted = await httpRequest(port, 'POST', `${base}/echo`, 'a=1&b=2');
            expect(posted.status, posted.body).toBe(200);
            expect(posted.body).toContain('posted a=1&b=2');
            expect((await get(`${base}/boom`)).status).toBe(500);
            // fcgictl request: what the browser got.
            for (const path of [`${base}/`, `${base}/news/1`]) expect(await ctlRequest(pool, path)).toEqual({ status: 0, body: (await get(path)).body });
            expect(await ctlRequest(pool, `${base}/echo`, 'a=1&b=2')).toEqual({ status: 0, body: posted.body });
            expect((await ctlRequest(pool, `${base}/boom`)).status).toBe(1);
          } else if (kind === 'cgi') {
            const hello = await get(`${base}/hello.sh?name=web`);
            expect(hello.status, hello.body).toBe(200);
            expect(hello.body).toBe('hello web\nmethod GET\nquery name=web\n');
            const posted = await httpRequest(port, 'POST', `${base}/echo.sh`, 'a=1');
            expect(posted.body).toMatch(/^length 3\n/);
            // fcgiwrap answers 403 for a script it cannot find; lighttpd looks first and says 404.
            expect([403, 404]).toContain((await get(`${base}/missing.sh`)).status);
            expect(await ctlRequest(pool, `${base}/hello.sh?name=web`)).toEqual({ status: 0, body: hello.body });
            expect(await ctlRequest(pool, `${base}/echo.sh`, 'a=1')).toEqual({ status: 0, body: posted.body });
            expect((await ctlRequest(pool, `${base}/missing.sh`)).status).toBe(1);
          } else {
            const root = mount === '/' ? site : `${site}/sub`;
            const index = await get(`${base}/`);
            expect(index.status, index.body).toBe(200);
            expect(index.body).toContain(`SCRIPT_NAME=${base}/index.php PATH_INFO=\n`);
            const info = await get(`${base}/index.php/extra?x=1`);
            expect(info.status, info.body).toBe(200);
            expect(info.body).toBe(`SCRIPT_NAME=${base}/index.php PATH_INFO=/extra\nSCRIPT_FILENAME=${root}/index.php\nquery x=1\n`);
            const statics = await get(`${base}/style.txt`);
            expect(statics.body).toBe('style.txt from the disk, served by the web server\n');
            const posted = await httpRequest(port, 'POST', `${base}/index.php`, 'a=1');
            expect(posted.body).toContain('posted a=1\n');
            expect((await get(`${base}/missing.php`)).status).toBe(404);
            expect((await get(`${base}/boom.php`)).status).toBe(500);
            for (const path of [`${base}/`, `${base}/index.php/extra?x=1`]) expect(await ctlRequest(pool, path)).toEqual({ status: 0, body: (await get(path)).body });
            expect(await ctlRequest(pool, `${base}/index.php`, 'a=1')).toEqual({ status: 0, body: posted.body });
            expect((await ctlRequest(pool, `${base}/boom.php`)).status).toBe(1);
            expect((await ctlRequest(pool, `${base}/missing.php`)).status).toBe(1);
          }
        } finally {
          await stop(proc);
        }
      });
    }
  }

  it('fcgid check and fcgid start warn about the one socket the installed servers cannot open', async () => {
    const check = await runToEnd(processes, process.execPath, [FCGID_BIN, 'check', '-c', file]);
    expect(check.status, check.stderr).toBe(0);
    const warnings = check.stderr.split('\n').filter((l) => l.includes('warning'));
    expect(warnings).toEqual([
      expect.stringMatching(/^web\.yaml: warning: pool closed: nginx, Apache and lighttpd run as www-data: www-data cannot connect to \S+closed\.sock \(owner root, group root, mode 0755, from the umask\): it needs write permission; set socket_group: www-data and socket_mode: "0660" in pool closed/),
    ]);
    await d.waitForLog((l) => /cannot connect/.test(l.msg));
    const logged = d.lines.filter((l) => /cannot connect/.test(l.msg));
    expect(logged.map((l) => l.msg)).toEqual([expect.stringMatching(/^warning: pool closed: nginx, Apache and lighttpd run as www-data: www-data cannot connect/)]);
  });

  it.each(['nginx', 'apache', 'lighttpd'] as const)('%s: a socket www-data cannot open is a warning from web-config, and a 5xx from the server', async (server) => {
    const port = await freePort();
    const { stdout, stderr } = await webConfig(server, 'closed', port);
    expect(stderr).toMatch(/warning: www-data cannot connect to .*closed\.sock \(owner root, group root, mode 0755, from the umask\): .*socket_group: www-data and socket_mode: "0660"/);
    expect(stdout).toContain('# WARNING: www-data cannot connect');
    const proc = await startGenerated(processes, scratch, server, port, stdout, site);
    try {
      expect((await httpRequest(port, 'GET', '/index.php')).status).toBeGreaterThanOrEqual(500);
    } finally {
      await processes.stop(proc);
    }
  });
});
