// A pool's `web` settings (where the web server mounts it) and the CGI params
// they stand for: what `fcgictl request` and `fcgid doctor` send, and what the
// configs of `fcgid web-config` make nginx, Apache and lighttpd send
// (test/integration/web-servers.test.ts checks those against the real servers).

import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, kindOf, parseConfig } from '../../src/config/load.js';
import type { WebConfig } from '../../src/config/types.js';
import { planReload } from '../../src/supervisor/reload-plan.js';
import { cannotGenerate } from '../../src/web/generate.js';
import { overrideWeb, splitPhp, underMount, webParams } from '../../src/web/params.js';

const FILE = '/etc/fcgid/app.yaml';

function pool(extra: Record<string, unknown> = {}, command: unknown = ['/usr/bin/python3', 'app.fcgi']) {
  return parseConfig(stringify({ pools: { app: { command, listen: 'unix:/run/fcgid/app.sock', ...extra } } }), FILE, { uid: 0, env: {} }).pools[0]!;
}

function problems(web: unknown): string[] {
  try {
    pool({ web });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error('expected a ConfigError');
}

describe('web settings', () => {
  it('default to an app at /, its root the pool cwd, no static files', () => {
    expect(pool().web).toEqual({ mount: '/', kind: 'app', root: '/etc/fcgid', static: {} });
    expect(pool({ cwd: '/srv/app' }).web.root).toBe('/srv/app');
  });

  it('regression: a cwd with a blank made the root the config file\'s directory, silently (php got the wrong SCRIPT_FILENAME); now the root is the cwd, and web-config refuses it for php and cgi pools, which write it', () => {
    const php = pool({ cwd: '/srv/my site' }, ['/usr/bin/php-cgi']);
    expect(php.web.root).toBe('/srv/my site');
    expect(webParams(php.web, { url: '/index.php' }).SCRIPT_FILENAME).toBe('/srv/my site/index.php');
    expect(cannotGenerate(php, { server: 'nginx', htaccess: false })).toBe(
      "pool app's web root /srv/my site (its cwd) holds a character a web server's config would have to escape; set web.root to a plain path (a link to it will do)",
    );
    // An app's root is written nowhere.
    expect(cannotGenerate(pool({ cwd: '/srv/my site' }), { server: 'nginx', htaccess: false })).toBeNull();
  });

  it.each([
    [['/usr/bin/php-cgi'], 'php'],
    [['php-cgi8.2'], 'php'],
    [['/usr/bin/php8.2-cgi', '-c', '/etc/php.ini'], 'php'],
    [['/usr/sbin/fcgiwrap'], 'cgi'],
    [['/usr/bin/python3', 'app.fcgi'], 'app'],
    [['uwsgi', '--protocol=fastcgi'], 'app'],
    [['node', 'server.mjs'], 'app'],
  ])('take their kind from the command: %j is %s', (command, kind) => {
    expect(kindOf(command)).toBe(kind);
    expect(pool({}, command).web.kind).toBe(kind);
  });

  it('read mount, kind, root and static files, relative paths from the config file', () => {
    expect(pool({ web: { mount: '/blog/v2', kind: 'php', root: 'www', static: { '/blog/v2/static': 'static' } } }).web).toEqual({
      mount: '/blog/v2',
      kind: 'php',
      root: '/etc/fcgid/www',
      static: { '/blog/v2/static': '/etc/fcgid/static' },
    });
  });

  it.each([
    [{ mount: '/app/' }, 'pools.app.web.mount: expected a URL path like / or /app (letters, digits, "-", "_", ".", "~"; no trailing slash), got "/app/"'],
    [{ mount: 'app' }, 'pools.app.web.mount: expected a URL path like / or /app (letters, digits, "-", "_", ".", "~"; no trailing slash), got "app"'],
    [{ mount: '/a/../b' }, 'pools.app.web.mount: expected a URL path like / or /app (letters, digits, "-", "_", ".", "~"; no trailing slash), got "/a/../b"'],
    [{ mount: '/a b' }, 'pools.app.web.mount: expected a URL path like / or /app (letters, digits, "-", "_", ".", "~"; no trailing slash), got "/a b"'],
    [{ kind: 'wsgi' }, 'pools.app.web.kind: expected one of app, php, cgi, got "wsgi"'],
    [{ root: '/srv/$app' }, 'pools.app.web.root: "/srv/$app" holds a character a web server\'s config would have to escape (blanks, quotes, \\, $, #, ;, braces, <>, |); move or link the directory to a plain path'],
    [{ static: { '/static': '/srv/a"b' } }, 'pools.app.web.static./static: "/srv/a\\"b" holds a character a web server\'s config would have to escape (blanks, quotes, \\, $, #, ;, braces, <>, |); move or link the directory to a plain path'],
    [{ root: '/srv/my site' }, 'pools.app.web.root: "/srv/my site" holds a character a web server\'s config would have to escape (blanks, quotes, \\, $, #, ;, braces, <>, |); move or link the directory to a plain path'],
    [{ mount: '/app', static: { '/static': '/srv/static' } }, 'pools.app.web.static./static: is not under web.mount /app; write the URL the browser asks for, e.g. /app/static'],
    [{ static: { '/': '/srv/static' } }, 'pools.app.web.static./: expected a URL path below /, like /static, got "/"'],
    [{ mont: '/' }, 'pools.app.web.mont: unknown key; did you mean "mount"?'],
  ])('refuse %j, naming the key and the fix', (web, message) => {
    expect(problems(web)).toEqual([message]);
  });

  it('change without restarting a worker on reload', () => {
    const doc = (web: Record<string, unknown>) => parseConfig(stringify({ pools: { app: { command: ['php-cgi'], listen: 'unix:/run/fcgid/app.sock', web } } }), FILE, { uid: 0, env: {} });
    const plan = planReload(doc({}), doc({ mount: '/blog', root: '/srv/blog' }));
    expect(plan.unchanged).toEqual(['app']);
    expect(plan.restart).toEqual([]);
  });
});

describe('webParams: what the web server sends', () => {
  const web = (w: Partial<WebConfig>): WebConfig => ({ mount: '/', kind: 'app', root: '/srv/www', static: {}, ...w });
  const pick = (p: Record<string, string>, ...keys: string[]) => Object.fromEntries(keys.map((k) => [k, p[k]]));

  it.each([
    // An app: SCRIPT_NAME is the mount ("" at /), PATH_INFO the rest (WSGI, PEP 3333).
    [web({}), '/news/1?x=1', { SCRIPT_NAME: '', PATH_INFO: '/news/1', REQUEST_URI: '/news/1?x=1', QUERY_STRING: 'x=1' }],
    [web({}), '/', { SCRIPT_NAME: '', PATH_INFO: '/' }],
    [web({ mount: '/app' }), '/app/news/1', { SCRIPT_NAME: '/app', PATH_INFO: '/news/1' }],
    [web({ mount: '/app' }), '/app', { SCRIPT_NAME: '/app', PATH_INFO: '' }],
    // Outside the mount: as an app at / would see it (not /app as a prefix of /application).
    [web({ mount: '/app' }), '/application', { SCRIPT_NAME: '', PATH_INFO: '/application' }],
    // Decoded, as CGI passes paths (RFC 3875 §4.1.5); the raw form stays in REQUEST_URI.
    [web({}), '/caf%C3%A9', { PATH_INFO: '/café', REQUEST_URI: '/caf%C3%A9' }],
    [web({}), '/bad%E0', { PATH_INFO: '/bad%E0' }],
    // php: the script under root, PATH_INFO after it, index.php for a directory.
    [web({ kind: 'php' }), '/info.php/extra?x=1', { SCRIPT_NAME: '/info.php', PATH_INFO: '/extra', SCRIPT_FILENAME: '/srv/www/info.php', QUERY_STRING: 'x=1', DOCUMENT_ROOT: '/srv/www' }],
    [web({ kind: 'php', mount: '/blog', root: '/srv/blog/' }), '/blog/', { SCRIPT_NAME: '/blog/index.php', PATH_INFO: '', SCRIPT_FILENAME: '/srv/blog/index.php' }],
    [web({ kind: 'php', mount: '/blog' }), '/blog', { SCRIPT_NAME: '/blog/index.php', SCRIPT_FILENAME: '/srv/www/index.php' }],
    // cgi: fcgiwrap runs SCRIPT_FILENAME and works out PATH_INFO itself.
    [web({ kind: 'cgi', mount: '/cgi-bin', root: '/usr/lib/cgi-bin' }), '/cgi-bin/hello.sh?name=x', { SCRIPT_NAME: '/cgi-bin/hello.sh', SCRIPT_FILENAME: '/usr/lib/cgi-bin/hello.sh', PATH_INFO: '' }],
  ])('%j %s', (w, url, expected) => {
    expect(pick(webParams(w, { url }), ...Object.keys(expected))).toEqual(expected);
  });

  it("sends what nginx's stock fastcgi_params sends, a Host header as HTTP_HOST, and -p params over everything", () => {
    const p = webParams(web({}), { url: '/', method: 'post', headers: { Host: 'example.com', 'Content-Type': 'text/plain' }, contentLength: 3, params: { SCRIPT_NAME: '/x' } });
    expect(p).toMatchObject({ REQUEST_METHOD: 'POST', CONTENT_TYPE: 'text/plain', CONTENT_LENGTH: '3', HTTP_HOST: 'example.com', SCRIPT_NAME: '/x', REDIRECT_STATUS: '200', REQUEST_SCHEME: 'http', GATEWAY_INTERFACE: 'CGI/1.1' });
    expect(webParams(web({}), { url: '/' }).HTTP_HOST).toBe('localhost');
  });

  it('splits php paths at the first .php', () => {
    expect(splitPhp('/a.php.txt')).toEqual(['/a.php.txt', '']);
    expect(splitPhp('/x.php/y.php/z')).toEqual(['/x.php', '/y.php/z']);
    expect(splitPhp('/dir/')).toEqual(['/dir/index.php', '']);
  });

  it('knows what is under a mount', () => {
    expect(underMount('/', '/x')).toBe('/x');
    expect(underMount('/app', '/app')).toBe('');
    expect(underMount('/app', '/app/x')).toBe('/x');
    expect(underMount('/app', '/apps')).toBeNull();
  });

  it('takes a request its own mount, kind and root, and refuses bad ones', () => {
    expect(overrideWeb(web({}), { mount: '/x', kind: 'php', root: '/r' })).toEqual(web({ mount: '/x', kind: 'php', root: '/r' }));
    expect(() => overrideWeb(web({}), { mount: 'x' })).toThrow('mount must be a URL path like / or /app, got "x"');
    expect(() => overrideWeb(web({}), { kind: 'fpm' })).toThrow('kind must be one of app, php, cgi, got "fpm"');
    expect(() => overrideWeb(web({}), { root: 'rel' })).toThrow('root must be an absolute path, got "rel"');
  });
});
