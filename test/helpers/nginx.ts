// nginx in front of fcgid pools for integration tests: a config written into a
// Scratch dir (every path inside it, no master process, no daemonizing), one
// `location PREFIX { fastcgi_pass unix:SOCKET; }` per pool, started through
// Processes and awaited until it accepts on a free port.

import { writeFileSync } from 'node:fs';
import { freePort, waitForListen, type Processes, type Scratch, type Started } from './peers.js';

export const NGINX_HOST = '127.0.0.1';

export interface FastCGILocation {
  /** URL prefix of the location, e.g. "/php/". */
  prefix: string;
  /** The pool's unix socket. */
  socket: string;
  /** fastcgi_param lines of this location beyond the shared set; values are nginx syntax ($uri, "" ...). */
  params: Record<string, string>;
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

export function nginxConf(dir: string, port: number, locations: readonly FastCGILocation[]): string {
  writeFileSync(`${dir}/fastcgi.params`, SHARED_PARAMS);
  const blocks = locations.map(
    (l) => `
    location ${l.prefix} {
      include ${dir}/fastcgi.params;
${Object.entries(l.params)
  .map(([name, value]) => `      fastcgi_param ${name} ${value};`)
  .join('\n')}
      fastcgi_pass unix:${l.socket};
    }`,
  );
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

  server {
    listen ${NGINX_HOST}:${port};
    server_name localhost;${blocks.join('')}
  }
}
`;
}

/** Start nginx on a free port of 127.0.0.1 with one location per pool; resolves once it accepts. */
export async function startNginx(processes: Processes, scratch: Scratch, locations: readonly FastCGILocation[]): Promise<{ port: number; proc: Started }> {
  const port = await freePort();
  writeFileSync(scratch.path('nginx.conf'), nginxConf(scratch.dir, port, locations));
  const proc = processes.start('nginx', ['-p', scratch.dir, '-c', scratch.path('nginx.conf'), '-g', 'daemon off;']);
  await waitForListen({ host: NGINX_HOST, port }, proc);
  return { port, proc };
}
