// lighttpd (mod_fastcgi) and Apache (mod_proxy_fcgi) in front of FastCGI
// sockets for integration tests, as nginx.ts does for nginx: a config written
// into a Scratch dir, the server started through Processes on a free port of
// 127.0.0.1 and awaited until it accepts. Apache runs its children as
// nobody:nogroup (it is started as root), as a real deployment runs them as
// www-data: a socket they cannot open shows.

import { mkdirSync, writeFileSync } from 'node:fs';
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
