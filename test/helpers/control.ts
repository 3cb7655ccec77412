// Talking to a running fcgid the way the integration tests do: the status
// document straight from the control socket (for polling), `fcgictl` run as a
// process (for assertions: what an operator sees), and one FastCGI request
// straight to a pool's socket, with the worker pid the fixtures answer with.

import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { ControlClient } from '../../src/control/client.js';
import { FastCGIClient } from '../../src/fastcgi/index.js';
import type { DaemonStatus, PoolStatus } from '../../src/control/wire.js';
import { poll, runToEnd, type Processes, type Ran } from './peers.js';

export const FCGICTL_BIN = fileURLToPath(new URL('../../bin/fcgictl', import.meta.url));

/** `fcgictl ARGS` as this user, or as nobody:nogroup with no supplementary groups. */
export function fcgictl(processes: Processes, args: string[], options: { as?: 'nobody'; env?: NodeJS.ProcessEnv } = {}): Promise<Ran> {
  const argv = [process.execPath, FCGICTL_BIN, ...args];
  if (options.as === 'nobody') return runToEnd(processes, 'setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', ...argv], { env: options.env });
  return runToEnd(processes, argv[0]!, argv.slice(1), { env: options.env });
}

/** `fcgictl -s CTL status --json`, which must exit 0: the document an operator gets. */
export async function fcgictlStatus(processes: Processes, ctl: string): Promise<DaemonStatus> {
  const r = await fcgictl(processes, ['-s', ctl, 'status', '--json']);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as DaemonStatus;
}

/** The status document straight from the socket, for waiting (assertions go through fcgictl). */
export function statusOf(ctl: string): Promise<DaemonStatus> {
  return new ControlClient({ path: ctl, how: '-s' }).call<DaemonStatus>('GET', '/v1/status');
}

export function poolOf(status: DaemonStatus, name: string): PoolStatus {
  const pool = status.pools.find((p) => p.name === name);
  if (!pool) throw new Error(`no pool ${name} in ${JSON.stringify(status)}`);
  return pool;
}

/** One pool's part of the status document, straight from the socket. */
export async function poolStatus(ctl: string, name: string): Promise<PoolStatus> {
  return poolOf(await statusOf(ctl), name);
}

/** Resolves with the pool's status once `ready` holds for it (polled). */
export function poolWhen(ctl: string, name: string, what: string, ready: (pool: PoolStatus) => boolean, timeoutMs?: number): Promise<PoolStatus> {
  return poll(
    what,
    async () => {
      const pool = await poolStatus(ctl, name);
      return ready(pool) ? pool : null;
    },
    timeoutMs,
  );
}

/** The pid a fixture (or examples/hello.mjs) put in its answer: "pid N". */
export function pidIn(body: string): number {
  const m = /\bpid (\d+)/.exec(body);
  if (!m) throw new Error(`no pid in ${JSON.stringify(body)}`);
  return Number(m[1]);
}

/** One FastCGI request on a fresh connection (FCGI_KEEP_CONN off, never retried elsewhere). */
export async function fastcgiOnce(address: string, params: Record<string, string>, timeout?: number): Promise<{ status: number; body: string }> {
  const client = new FastCGIClient({ address, keepConn: false, ...(timeout === undefined ? {} : { timeout }) });
  try {
    const r = await client.fetch({ params });
    return { status: r.status, body: r.body.toString() };
  } finally {
    client.close();
  }
}

/** One HTTP GET on a fresh connection (a unix socket with socketPath): status, content type and body. */
export function httpGet(options: http.RequestOptions): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ agent: false, ...options }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The value of one sample: `name{labels}` with exactly these labels; undefined when absent. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(',');
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? '')
      .split(/,(?=[a-zA-Z_]+=")/)
      .filter(Boolean)
      .sort()
      .join(',');
    if (have === want) return Number(m[3]);
  }
  return undefined;
}
