// The web server's side of a pool, as `fcgid web-config` prints it: a complete
// nginx server block, Apache virtual host (or .htaccess), or lighttpd config
// that sends the pool's mount the CGI params of docs/web-servers.md ("What the
// app sees") and serves web.static itself. Pure text from the pool's config;
// test/integration/web-servers.test.ts runs every variant in the real servers.

import { formatAddress } from '../fastcgi/address.js';
import { UNSAFE_IN_WEB_CONFIG, type PoolConfig } from '../config/types.js';
import type { Reach, WebServer, WebUser } from '../host/reach.js';
import { said } from '../host/identity.js';

export interface WebConfigOptions {
  server: WebServer;
  /** Apache: the .htaccess for the directory served at the mount, for a host whose main config you cannot edit. */
  htaccess?: boolean;
  /** Where the server listens: a port, or address:port. */
  listen: string;
  serverName: string | null;
  user: WebUser;
  reach: Reach;
  /** The config file the pool is in, named in the header. */
  configFile: string;
}

/** Why a pool cannot be given a web server config, or null. */
export function cannotGenerate(pool: PoolConfig, opts: Pick<WebConfigOptions, 'server' | 'htaccess'>): string | null {
  if (pool.listen.kind === 'systemd') return `pool ${pool.name} listens on ${formatAddress(pool.listen)}, whose address is in its systemd .socket unit: point the web server at that address`;
  if (opts.htaccess && opts.server !== 'apache') return '--htaccess is for Apache only';
  if (pool.listen.kind === 'unix' && UNSAFE_IN_WEB_CONFIG.test(pool.listen.path)) {
    return `pool ${pool.name}'s socket ${pool.listen.path} holds a character a web server's config would have to escape; give listen a plain path, like /run/fcgid/${pool.name}.sock`;
  }
  // An explicit web.root or static directory is refused by the config loader; the root that defaults to cwd is checked here.
  if (pool.web.kind !== 'app' && UNSAFE_IN_WEB_CONFIG.test(pool.web.root)) {
    return `pool ${pool.name}'s web root ${pool.web.root} (its cwd) holds a character a web server's config would have to escape; set web.root to a plain path (a link to it will do)`;
  }
  return null;
}

export function webServerConfig(pool: PoolConfig, opts: WebConfigOptions): string {
  const body = opts.server === 'nginx' ? nginx(pool, opts) : opts.server === 'lighttpd' ? lighttpd(pool, opts) : opts.htaccess ? htaccess(pool) : apache(pool, opts);
  return `${header(pool, opts)}${body}`;
}

function header(pool: PoolConfig, opts: WebConfigOptions): string {
  const { mount, kind, root } = pool.web;
  const what = kind === 'app' ? `one app answers every URL under ${mount}` : kind === 'php' ? `PHP scripts under ${root}, at ${mount}` : `CGI scripts under ${root}, at ${mount}`;
  const serverLabel = opts.server === 'apache' ? 'Apache' : opts.server;
  const lines = [
    `fcgid web-config ${opts.server}${opts.htaccess ? ' --htaccess' : ''}: pool ${pool.name} of ${opts.configFile}`,
    `${what}; FastCGI socket ${formatAddress(pool.listen)}.`,
    ...setup(opts, pool),
    `${serverLabel}'s workers run as ${opts.user.name} (${opts.user.from}); the socket: ${opts.reach.socket}.`,
    ...(opts.reach.problems.length === 0 ? (pool.listen.kind === 'unix' ? [`${opts.user.name} can connect to it.`] : []) : opts.reach.problems.map((p) => `WARNING: ${said(p)}`)),
  ];
  return `${lines.map((l) => `# ${l}`).join('\n')}\n\n`;
}

function setup(opts: WebConfigOptions, pool: PoolConfig): string[] {
  if (opts.server === 'nginx') return ['Save as /etc/nginx/sites-available/NAME, link it into sites-enabled, then: nginx -t && systemctl reload nginx.'];
  if (opts.server === 'lighttpd') return ['Save as /etc/lighttpd/conf-available/50-NAME.conf, then: lighty-enable-mod NAME && systemctl reload lighttpd.'];
  if (opts.htaccess) {
    return [
      'Save as .htaccess in the directory Apache serves at the mount (it needs AllowOverride FileInfo Indexes, and a2enmod proxy_fcgi rewrite).',
      ...Object.entries(pool.web.static).map(([url, dir]) => `Alias is not allowed in .htaccess: ${dir} must be (or be linked as) the directory Apache serves at ${url}.`),
    ];
  }
  return ['Save as /etc/apache2/sites-available/NAME.conf, then: a2enmod proxy_fcgi && a2ensite NAME && systemctl reload apache2.'];
}

/** The mount as a regex prefix, "" at /. */
function mountRe(mount: string): string {
  return mount === '/' ? '' : mount.replace(/[.~-]/g, (c) => `\\${c}`);
}

/** A directory with exactly one trailing slash, as nginx's alias and lighttpd's alias.url want it. */
function slashed(dir: string): string {
  return `${dir.replace(/\/+$/, '')}/`;
}

// --- nginx ---

function nginxPass(pool: PoolConfig): string {
  return pool.listen.kind === 'unix' ? `unix:${pool.listen.path}` : `${formatAddress(pool.listen).replace(/^tcp:\/\//, '')}`;
}

function indent(lines: string[], by: string): string[] {
  return lines.flatMap((l) => l.split('\n')).map((l) => (l === '' ? '' : by + l));
}

function nginx(pool: PoolConfig, opts: WebConfigOptions): string {
  const { mount, kind, root } = pool.web;
  const m = mountRe(mount);
  const pass = `fastcgi_pass ${nginxPass(pool)};`;
  const inner: string[] = [];
  if (kind === 'app') {
    for (const [url, dir] of Object.entries(pool.web.static)) inner.push(`# Static files, served by nginx itself.`, `location ^~ ${url}/ {`, `    alias ${slashed(dir)};`, `}`, '');
    inner.push(
      mount === '/' ? 'location / {' : `location ~ ^${m}(/|$) {`,
      '    include fastcgi_params;',
      `    # SCRIPT_NAME is the mount${mount === '/' ? ' ("" at /)' : ''}, PATH_INFO the rest of the path: what WSGI apps route on.`,
      `    fastcgi_split_path_info ^(${m})(.*)$;`,
      '    fastcgi_param PATH_INFO $fastcgi_path_info;',
      `    ${pass}`,
      '}',
    );
  } else if (kind === 'php') {
    const php = [
      `location ~ ^${m}(?<script>/.*?[^/]\\.php)(/|$) {`,
      '    # SCRIPT_NAME is the script, PATH_INFO what follows it.',
      '    fastcgi_split_path_info ^(.+?\\.php)(/.*)$;',
      '    set $path_info $fastcgi_path_info;',
      '    # Only scripts that exist go to PHP (never /upload/x.jpg/y.php as x.jpg).',
      `    if (!-f ${slashed(root).slice(0, -1)}$script) {`,
      '        return 404;',
      '    }',
      '    include fastcgi_params;',
      `    fastcgi_param SCRIPT_FILENAME ${slashed(root).slice(0, -1)}$script;`,
      '    fastcgi_param PATH_INFO $path_info;',
      `    ${pass}`,
      '}',
    ];
    if (mount === '/') inner.push(`root ${root};`, 'index index.php index.html;', '', ...php);
    else inner.push(`location = ${mount} {`, `    return 301 ${mount}/;`, '}', `location ^~ ${mount}/ {`, `    alias ${slashed(root)};`, '    index index.php index.html;', ...indent(php, '    '), '}');
  } else {
    inner.push(
      `location ~ ^${m}(?<script>/.*)$ {`,
      '    include fastcgi_params;',
      '    # fcgiwrap runs SCRIPT_FILENAME and works out PATH_INFO itself.',
      `    fastcgi_param SCRIPT_FILENAME ${slashed(root).slice(0, -1)}$script;`,
      `    ${pass}`,
      '}',
    );
  }
  return [`server {`, `    listen ${opts.listen};`, `    server_name ${opts.serverName ?? '_'};`, '', ...indent(inner, '    '), '}', ''].join('\n');
}

// --- Apache (mod_proxy_fcgi) ---

function apacheTarget(pool: PoolConfig): string {
  return pool.listen.kind === 'unix' ? `unix:${pool.listen.path}|fcgi://localhost` : `fcgi://${formatAddress(pool.listen).replace(/^tcp:\/\//, '')}`;
}

/** The app's params, which mod_proxy_fcgi does not split at a mount by itself: it sends SCRIPT_NAME as the whole path and no PATH_INFO. */
function apacheAppEnv(mount: string): string[] {
  return mount === '/'
    ? ['ProxyFCGISetEnvIf "true" SCRIPT_NAME ""', 'ProxyFCGISetEnvIf "true" PATH_INFO "%{REQUEST_URI}"']
    : [`ProxyFCGISetEnvIf "true" SCRIPT_NAME "${mount}"`, `ProxyFCGISetEnvIf "%{REQUEST_URI} =~ m#^${mountRe(mount)}(.*)$#" PATH_INFO "$1"`];
}

function apache(pool: PoolConfig, opts: WebConfigOptions): string {
  const { mount, kind, root } = pool.web;
  const target = apacheTarget(pool);
  const inner: string[] = [];
  if (opts.serverName) inner.push(`ServerName ${opts.serverName}`, '');
  if (kind === 'app') {
    inner.push(`<Location "${mount}">`, `    ProxyPass "${target}${mount === '/' ? '/' : mount}"`, ...indent(apacheAppEnv(mount), '    '), '</Location>');
    // After the app's Location, so that theirs overrides its ProxyPass.
    for (const [url, dir] of Object.entries(pool.web.static)) {
      inner.push('', '# Static files, served by Apache itself.', `Alias "${url}" "${dir}"`, `<Directory "${dir}">`, '    Require all granted', '</Directory>', `<Location "${url}">`, '    ProxyPass "!"', '</Location>');
    }
  } else {
    inner.push(
      mount === '/' ? `DocumentRoot "${root}"` : `Alias "${mount}" "${root}"`,
      `<Directory "${root}">`,
      '    Require all granted',
      `    DirectoryIndex ${kind === 'php' ? 'index.php index.html' : 'index.cgi'}`,
      ...(kind === 'php'
        ? ['    <FilesMatch "\\.php$">', '        # Only scripts that exist go to PHP.', '        <If "-f %{REQUEST_FILENAME}">', `            SetHandler "proxy:${target}"`, '        </If>', '    </FilesMatch>']
        : [`    SetHandler "proxy:${target}"`]),
      '</Directory>',
      '# SCRIPT_FILENAME as the file path, not the proxy:fcgi:// URL only php-fpm understands.',
      'ProxyFCGIBackendType GENERIC',
    );
  }
  return [`<VirtualHost ${/^\d+$/.test(opts.listen) ? `*:${opts.listen}` : opts.listen}>`, ...indent(inner, '    '), '</VirtualHost>', ''].join('\n');
}

function htaccess(pool: PoolConfig): string {
  const { mount, kind } = pool.web;
  const target = apacheTarget(pool);
  if (kind === 'php') {
    return [
      'DirectoryIndex index.php index.html',
      '<FilesMatch "\\.php$">',
      '    # Only scripts that exist go to PHP.',
      '    <If "-f %{REQUEST_FILENAME}">',
      `        SetHandler "proxy:${target}"`,
      '    </If>',
      '</FilesMatch>',
      '# SCRIPT_FILENAME as the file path, not the proxy:fcgi:// URL only php-fpm understands.',
      'ProxyFCGIBackendType GENERIC',
      '',
    ].join('\n');
  }
  if (kind === 'cgi') return [`SetHandler "proxy:${target}"`, 'ProxyFCGIBackendType GENERIC', ''].join('\n');
  const statics = Object.keys(pool.web.static).map((url) => `RewriteCond %{REQUEST_URI} !^${mountRe(url)}/`);
  return [
    // Else mod_dir turns / into a lookup of /index.html, which the rule sends to the app.
    'DirectoryIndex disabled',
    'RewriteEngine On',
    '# Files that exist (and web.static) are served by Apache; every other URL goes to the app.',
    'RewriteCond %{REQUEST_FILENAME} !-f',
    ...statics,
    `RewriteRule "^(.*)$" "${target}${mount === '/' ? '' : mount}/$1" [P,L]`,
    ...apacheAppEnv(mount),
    '',
  ].join('\n');
}

// --- lighttpd (mod_fastcgi) ---

function lighttpdBackend(pool: PoolConfig, extra: string[]): string {
  const where = pool.listen.kind === 'unix' ? [`"socket" => "${pool.listen.path}"`] : pool.listen.kind === 'tcp' ? [`"host" => "${pool.listen.host}"`, `"port" => ${pool.listen.port}`] : [];
  return `(( ${[...where, ...extra].join(', ')} ))`;
}

function lighttpd(pool: PoolConfig, opts: WebConfigOptions): string {
  const { mount, kind, root } = pool.web;
  const m = mountRe(mount);
  const lines = ['server.modules += ( "mod_fastcgi", "mod_alias" )', ''];
  if (opts.listen !== '80') lines.push(`# Where lighttpd listens is server.port in lighttpd.conf (generated for ${opts.listen}).`);
  // Everything sits in conditionals: lighttpd.conf sets server.document-root (and maybe
  // fastcgi.server) already, and a second plain assignment is an error.
  const site = [opts.serverName ? `$HTTP["host"] == "${opts.serverName}"` : null, `$HTTP["url"] =~ "^${m}${mount === '/' ? '/' : '(/|$)'}"`].filter((c) => c !== null);
  if (kind === 'app') {
    const statics = Object.entries(pool.web.static);
    for (const [url, dir] of statics) lines.push('# Static files, served by lighttpd itself.', `alias.url += ( "${url}/" => "${slashed(dir)}" )`);
    const server = `fastcgi.server = ( "${mount}" => ${lighttpdBackend(pool, ['"check-local" => "disable"', ...(mount === '/' ? ['"fix-root-scriptname" => "enable"'] : [])])} )`;
    lines.push(...nest([...site, ...statics.map(([url]) => `$HTTP["url"] !~ "^${mountRe(url)}/"`)], [`# SCRIPT_NAME is the mount${mount === '/' ? ' ("" at /)' : ''}, PATH_INFO the rest of the path: what WSGI apps route on.`, server]));
  } else {
    const backend = kind === 'php' ? `".php" => ${lighttpdBackend(pool, ['"check-local" => "enable"', '"broken-scriptfilename" => "enable"'])}` : `"/" => ${lighttpdBackend(pool, ['"check-local" => "enable"'])}`;
    const body = [
      mount === '/' ? `server.document-root = "${root}"` : `alias.url += ( "${mount}/" => "${slashed(root)}" )`,
      ...(kind === 'php' ? ['index-file.names += ( "index.php" )'] : []),
      `fastcgi.server = ( ${backend} )`,
    ];
    lines.push(...nest(site, body));
  }
  return `${lines.join('\n')}\n`;
}

/** `body` inside each condition in turn. */
function nest(conditions: string[], body: string[]): string[] {
  if (conditions.length === 0) return body;
  const [first, ...rest] = conditions;
  return [`${first} {`, ...indent(nest(rest, body), '    '), '}'];
}
