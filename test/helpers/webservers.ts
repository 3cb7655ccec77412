// lighttpd (mod_fastcgi) and Apache (mod_proxy_fcgi) in front of FastCGI
// sockets for integration tests, as nginx.ts does for nginx: a config written
// into a Scratch dir, the server started through Processes on a free port of
// 127.0.0.1 and awaited until it accepts. Apache runs its children as
// nobody:nogroup (it is started as root), as a real deployment runs them as
// www-data: a socket they cannot open shows.

import { chownSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { NGINX_HOST as HOST } from './nginx.js';
import { freePort, missingFiles, missingPeers, waitForListen, type Processes, type Scratch, type Started } from './peers.js';

export const APACHE_MODULES = '/usr/lib/apache2/modules';

/** Why Apache with mod_proxy_fcgi cannot run here, or null. */
export const missingApache = (): string | null =>
  missingPeers('apache2') ?? missingFiles(...['mod_mpm_prefork', 'mod_authz_core', 'mod_proxy', 'mod_proxy_fcgi'].map((m) => `${APACHE_MODULES}/${m}.so`));

/** lighttpd with one fastcgi.server entry per `prefix → unix socket`. */
export async function startLighttpd(processes: Processes, scratch: Scratch, sockets: Record<string, string>): Promise<{ port: number; proc: Started }> {
  const port = await freePort();
  mkdirSync(scratch.path('htdocs'), { recursive: true });
  mkdirSync(scratch.path('upload'), { recursive: true });
  const servers = Object.entries(sockets)
    .map(([prefix, sock]) => `"${prefix}" => ( ( "socket" => "${sock}", "check-local" => "disable" ) )`)
    .join(', ');
  writeFileSync(
    scratch.path('lighttpd.conf'),
    `
server.modules = ( "mod_fastcgi" )
server.document-root = "${scratch.path('htdocs')}"
server.bind = "${HOST}"
server.port = ${port}
server.errorlog = "${scratch.path('lighttpd-error.log')}"
server.upload-dirs = ( "${scratch.path('upload')}" )
fastcgi.server = ( ${servers} )
`,
  );
  const proc = processes.start('lighttpd', ['-D', '-f', scratch.path('lighttpd.conf')]);
  await waitForListen({ host: HOST, port }, proc);
  return { port, proc };
}

/** Apache (one prefork child, -X) with a `ProxyPass PREFIX TARGET [options]` line per entry, then `directives` as they are. */
export async function startApache(
  processes: Processes,
  scratch: Scratch,
  proxies: Array<{ prefix: string; target: string; options?: string }>,
  directives: string[] = [],
): Promise<{ port: number; proc: Started }> {
  const port = await freePort();
  mkdirSync(scratch.path('htdocs'), { recursive: true });
  mkdirSync(scratch.path('run'), { recursive: true });
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
${proxies.map((p) => `ProxyPass "${p.prefix}" "${p.target}"${p.options ? ` ${p.options}` : ''}`).join('\n')}
${directives.join('\n')}
`,
  );
  const proc = processes.start('apache2', ['-X', '-f', scratch.path('httpd.conf')]);
  await waitForListen({ host: HOST, port }, proc);
  return { port, proc };
}

/** Debian's web server user. */
const WWW_DATA = { uid: 33, gid: 33 };

/** A web server as it runs in production, around a snippet `fcgid web-config` printed: its workers run as www-data. */
export type GeneratedServer = 'nginx' | 'apache' | 'apache-htaccess' | 'lighttpd';

/** Why the web servers cannot run as a production setup here (their workers as www-data), or null. */
export const missingProductionServers = (): string | null =>
  missingPeers('nginx', 'lighttpd') ??
  missingApache() ??
  missingFiles(...['mod_alias', 'mod_dir', 'mod_mime', 'mod_rewrite'].map((m) => `${APACHE_MODULES}/${m}.so`)) ??
  (process.getuid?.() === 0 ? null : 'the web servers switch to www-data, which takes root');

/**
 * Start `server` on 127.0.0.1:`port` with `snippet` as the site, its workers
 * as www-data. `docroot`: the directory served where the snippet sets none
 * (the .htaccess variant's DocumentRoot, with AllowOverride FileInfo Indexes, what the .htaccess says it needs).
 */
export async function startGenerated(processes: Processes, scratch: Scratch, server: GeneratedServer, port: number, snippet: string, docroot: string): Promise<Started> {
  const dir = scratch.path(`${server}-${port}`);
  mkdirSync(dir, { recursive: true });
  let proc: Started;
  if (server === 'nginx') {
    // The snippet's `include fastcgi_params` is relative to nginx.conf's directory, as in /etc/nginx.
    copyFileSync('/etc/nginx/fastcgi_params', `${dir}/fastcgi_params`);
    writeFileSync(
      `${dir}/nginx.conf`,
      `user www-data www-data;
worker_processes 1;
error_log ${dir}/error.log;
pid ${dir}/nginx.pid;
events { worker_connections 64; }
http {
  include /etc/nginx/mime.types;
  access_log off;
  client_body_temp_path ${dir}/body;
  fastcgi_temp_path ${dir}/fastcgi;
  proxy_temp_path ${dir}/proxy;
  scgi_temp_path ${dir}/scgi;
  uwsgi_temp_path ${dir}/uwsgi;
${snippet}
}
`,
    );
    proc = processes.start('nginx', ['-p', dir, '-c', `${dir}/nginx.conf`, '-g', 'daemon off;']);
  } else if (server === 'lighttpd') {
    // lighttpd opens its error log after it has become www-data.
    chownSync(dir, WWW_DATA.uid, WWW_DATA.gid);
    writeFileSync(
      `${dir}/lighttpd.conf`,
      `server.username = "www-data"
server.groupname = "www-data"
server.document-root = "${docroot}"
server.bind = "${HOST}"
server.port = ${port}
server.errorlog = "${dir}/error.log"
server.upload-dirs = ( "${dir}" )
mimetype.assign = ( ".txt" => "text/plain", ".html" => "text/html" )
${snippet}
`,
    );
    proc = processes.start('lighttpd', ['-D', '-f', `${dir}/lighttpd.conf`]);
  } else {
    mkdirSync(`${dir}/run`, { recursive: true });
    const modules = ['mpm_prefork', 'authz_core', 'proxy', 'proxy_fcgi', 'alias', 'dir', 'mime', 'rewrite'];
    writeFileSync(
      `${dir}/httpd.conf`,
      `ServerRoot "${dir}"
ServerName localhost
Listen ${HOST}:${port}
${modules.map((m) => `LoadModule ${m}_module ${APACHE_MODULES}/mod_${m}.so`).join('\n')}
User www-data
Group www-data
PidFile "${dir}/run/httpd.pid"
DefaultRuntimeDir "${dir}/run"
ErrorLog "${dir}/error.log"
LogLevel warn
TypesConfig /etc/mime.types
DocumentRoot "${docroot}"
<Directory "${docroot}">
    Require all granted
    AllowOverride FileInfo Indexes
</Directory>
${snippet}
`,
    );
    // -X: one process, which still switches to User (ap_unixd_setup_child), as a real child does.
    proc = processes.start('apache2', ['-X', '-f', `${dir}/httpd.conf`]);
  }
  await waitForListen({ host: HOST, port }, proc);
  return proc;
}

/** One HTTP/1.1 request to 127.0.0.1:`port` on a connection of its own. */
export function httpRequest(port: number, method: string, path: string, body?: string): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port, method, path, agent: false, headers: body === undefined ? {} : { 'Content-Type': 'application/x-www-form-urlencoded' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
