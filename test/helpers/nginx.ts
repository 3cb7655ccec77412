// nginx in front of FastCGI applications for integration tests: a config
// written into a Scratch dir (every path inside it, no master process, no
// daemonizing), one `location PREFIX { fastcgi_pass …; }` per application (a
// unix socket, or an upstream with kept connections), started through
// Processes and awaited until it accepts on a free port.

import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { freePort, waitForListen, type Processes, type Scratch, type Started } from './peers.js';

export const NGINX_HOST = '127.0.0.1';

interface LocationOptions {
  /** URL prefix of the location, e.g. "/php/". */
  prefix: string;
  /** fastcgi_param lines of this location beyond the shared set; values are nginx syntax ($uri, "" ...). */
  params?: Record<string, string>;
  /** fastcgi_keep_conn on: FCGI_KEEP_CONN set, and the connection kept for the next request (cached by an upstream with keepalive). */
  keepConn?: boolean;
  /** fastcgi_buffering off: nginx reads from the application only as fast as the client takes it. */
  unbuffered?: boolean;
}

/** A location that passes to a unix socket (`socket`), or to one of NginxOptions.upstreams (`upstream`, its name). */
export type FastCGILocation = LocationOptions & ({ socket: string; upstream?: never } | { upstream: string; socket?: never });

export interface Upstream {
  name: string;
  /** `unix:/path` or `host:port`. */
  server: string;
  /** Idle connections to it that nginx keeps for reuse (upstream keepalive); none by default. */
  keepalive?: number;
}

export interface NginxOptions {
  upstreams?: readonly Upstream[];
  /** client_max_body_size; nginx's default is 1m. */
  clientMaxBodySize?: string;
}

/**
 * The CGI params nginx's stock fastcgi_params file sends. nginx replaces, not
 * merges, the fastcgi_params of an outer level in a location that sets any of its
 * own, so every location includes the whole set.
 */
const SHARED_PARAMS = `
fastcgi_param QUERY_STRING $query_string;
fastcgi_param REQUEST_METHOD $request_method;
fastcgi_param CONTENT_TYPE $content_type;
fastcgi_param CONTENT_LENGTH $content_length;
fastcgi_param REQUEST_URI $request_uri;
fastcgi_param DOCUMENT_URI $document_uri;
fastcgi_param SERVER_PROTOCOL $server_protocol;
fastcgi_param GATEWAY_INTERFACE CGI/1.1;
fastcgi_param SERVER_SOFTWARE nginx;
fastcgi_param REMOTE_ADDR $remote_addr;
fastcgi_param REMOTE_PORT $remote_port;
fastcgi_param SERVER_ADDR $server_addr;
fastcgi_param SERVER_PORT $server_port;
fastcgi_param SERVER_NAME $server_name;
`;

export function nginxConf(dir: string, port: number, locations: readonly FastCGILocation[], options: NginxOptions = {}): string {
  writeFileSync(`${dir}/fastcgi.params`, SHARED_PARAMS);
  const upstreams = (options.upstreams ?? []).map(
    (u) => `
  upstream ${u.name} {
    server ${u.server};${u.keepalive === undefined ? '' : `
    keepalive ${u.keepalive};`}
  }`,
  );
  const blocks = locations.map((l) => {
    const lines = [
      `include ${dir}/fastcgi.params;`,
      ...Object.entries(l.params ?? {}).map(([name, value]) => `fastcgi_param ${name} ${value};`),
      ...(l.keepConn ? ['fastcgi_keep_conn on;'] : []),
      ...(l.unbuffered ? ['fastcgi_buffering off;'] : []),
      `fastcgi_pass ${l.upstream ?? `unix:${l.socket}`};`,
    ];
    return `
    location ${l.prefix} {
${lines.map((line) => `      ${line}`).join('\n')}
    }`;
  });
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
  uwsgi_temp_path ${dir}/uwsgi_temp;${options.clientMaxBodySize ? `
  client_max_body_size ${options.clientMaxBodySize};` : ''}
${upstreams.join('')}
  server {
    listen ${NGINX_HOST}:${port};
    server_name localhost;${blocks.join('')}
  }
}
`;
}

/** Start nginx on a free port of 127.0.0.1 with these locations; resolves once it accepts. */
export async function startNginx(
  processes: Processes,
  scratch: Scratch,
  locations: readonly FastCGILocation[],
  options: NginxOptions = {},
): Promise<{ port: number; proc: Started }> {
  const port = await freePort();
  writeFileSync(scratch.path('nginx.conf'), nginxConf(scratch.dir, port, locations, options));
  const proc = processes.start('nginx', ['-p', scratch.dir, '-c', scratch.path('nginx.conf'), '-g', 'daemon off;']);
  await waitForListen({ host: NGINX_HOST, port }, proc);
  return { port, proc };
}

/** GET `path` from nginx on `port`, on a connection of its own; the body as text. */
export function nginxGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: NGINX_HOST, port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}
