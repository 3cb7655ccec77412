// fcgictl's side of the control socket: finding it, calling a route, and turning
// every failure into one line that says what to do.

import { readdirSync, statSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { defaultControlDir, defaultControlSocket } from '../config/paths.js';
import { FOLLOWER_BUFFER } from './wire.js';

export class ControlError extends Error {
  override readonly name = 'ControlError';
  constructor(
    message: string,
    /** fcgictl's exit status for this failure (docs/fcgictl.md). */
    readonly exitCode: number,
    readonly body?: unknown,
  ) {
    super(message);
  }
}

export const EXIT = { OK: 0, FAILED: 1, USAGE: 2, NOT_RUNNING: 3, DENIED: 4, UNKNOWN_POOL: 5, DEGRADED: 6, POOL_FAILED: 7 } as const;

export interface Located {
  path: string;
  /** How it was found, for error messages. */
  how: string;
}

/**
 * -s PATH, then -c CONFIG, then $FCGID_CONTROL, then the only socket in the
 * default directory. A default depends on the daemon's user, which fcgictl
 * does not know: this user's is tried first, then root's (/run/fcgid), so that
 * a member of control.group finds root's fcgid.
 */
export async function locate(opts: { socket?: string; config?: string }, env = process.env, uid = process.getuid?.() ?? 0): Promise<Located> {
  if (opts.socket) return { path: opts.socket, how: '-s' };
  if (opts.config) {
    // The YAML parser is loaded only when a config is named: fcgictl's start-up is most of its latency.
    const { readControlSocket } = await import('../config/load.js');
    let named: { socket: string; given: boolean };
    try {
      named = readControlSocket(opts.config, { uid, env });
    } catch (err) {
      throw new ControlError(`cannot read ${opts.config}: ${(err as Error).message.split('\n')[0]}`, EXIT.USAGE);
    }
    const how = `control.socket of ${opts.config}`;
    if (named.given || uid === 0) return { path: named.socket, how };
    const root = defaultControlSocket(opts.config, 0);
    if (!isSocket(named.socket) && isSocket(root)) return { path: root, how: `root's default control socket for ${opts.config}` };
    return { path: named.socket, how };
  }
  if (env.FCGID_CONTROL) return { path: env.FCGID_CONTROL, how: '$FCGID_CONTROL' };
  const dirs = [defaultControlDir(uid, env), ...(uid === 0 ? [] : [defaultControlDir(0)])];
  for (const dir of dirs) {
    const found = controlSockets(dir);
    if (found.length === 1) return { path: join(dir, found[0]!), how: `the only control socket in ${dir}` };
    if (found.length > 1) throw new ControlError(`several fcgid control sockets in ${dir} (${found.join(', ')}); pick one with -s PATH or -c CONFIG`, EXIT.USAGE);
  }
  throw new ControlError(`no fcgid control socket in ${dirs.join(' or ')}: is fcgid running? Otherwise name it with -s PATH or -c CONFIG`, EXIT.NOT_RUNNING);
}

function controlSockets(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.ctl'));
  } catch {
    return [];
  }
}

function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}

export class ControlClient {
  constructor(readonly where: Located) {}

  async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const res = await this.open(method, path, body);
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ControlError(`the control socket at ${this.where.path} answered something that is not JSON (is it fcgid's?)`, EXIT.FAILED);
    }
    if ((res.statusCode ?? 500) >= 400) {
      const err = (parsed as { error?: { code?: string; message?: string } }).error;
      const exit = err?.code === 'FCGID_UNKNOWN_POOL' ? EXIT.UNKNOWN_POOL : EXIT.FAILED;
      throw new ControlError(err?.message ?? `HTTP ${res.statusCode}`, exit, parsed);
    }
    return parsed as T;
  }

  /** A streaming GET (NDJSON); calls `onLine` per line until the daemon ends it. */
  async stream(path: string, onLine: (line: string) => void): Promise<void> {
    const res = await this.open('GET', path);
    if ((res.statusCode ?? 500) >= 400) {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: { code?: string; message?: string } };
      throw new ControlError(parsed.error?.message ?? `HTTP ${res.statusCode}`, parsed.error?.code === 'FCGID_UNKNOWN_POOL' ? EXIT.UNKNOWN_POOL : EXIT.FAILED);
    }
    let partial = '';
    try {
      for await (const c of res) {
        const lines = (partial + (c as Buffer).toString('utf8')).split('\n');
        partial = lines.pop()!;
        for (const l of lines) if (l) onLine(l);
      }
    } catch (err) {
      throw new ControlError(
        `fcgid broke off the stream (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): it cuts off a reader that falls ${FOLLOWER_BUFFER / 1024} KiB behind rather than wait for it; run the command again`,
        EXIT.FAILED,
      );
    }
  }

  private open(method: string, path: string, body?: unknown): Promise<http.IncomingMessage> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.where.path,
          method,
          path,
          headers: payload === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) },
        },
        resolve,
      );
      req.on('error', (err: NodeJS.ErrnoException) => reject(this.connectError(err)));
      req.end(payload);
    });
  }

  private connectError(err: NodeJS.ErrnoException): ControlError {
    const { path, how } = this.where;
    switch (err.code) {
      case 'ENOENT':
      case 'ECONNREFUSED':
        return new ControlError(`fcgid is not running: nothing answers at ${path} (found via ${how}); start it with fcgid start -c CONFIG`, EXIT.NOT_RUNNING);
      case 'EACCES':
      case 'EPERM':
        return new ControlError(
          `permission denied on ${path}: only its owner (and control.group, if set) may control this fcgid; run fcgictl as that user or set control.group/control.mode`,
          EXIT.DENIED,
        );
      default:
        return new ControlError(`cannot talk to fcgid at ${path}: ${err.code ?? err.message}`, EXIT.FAILED);
    }
  }
}
