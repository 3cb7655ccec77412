// Shared plumbing for tests that run real programs: find a peer binary (or skip
// with a reason; under FCGID_REQUIRE_PEERS=1, as in CI, fail instead), start
// processes and kill exactly those by pid, temp dirs, free ports, waiting for a
// socket to accept. Nothing here sleeps on a timer to "let things settle".

import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { realHost } from '../../src/host/processes.js';

export const REQUIRE_PEERS = process.env.FCGID_REQUIRE_PEERS === '1';

const SEARCH_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Absolute path of a program, or null. Looks in sbin too (nginx, lighttpd, apache2 live there). */
export function which(program: string): string | null {
  if (program.startsWith('/')) return existsSync(program) ? program : null;
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...SEARCH_PATH];
  for (const dir of dirs) {
    const p = join(dir, program);
    if (existsSync(p)) return p;
  }
  return null;
}

/**
 * Look for the programs a test needs. Returns a skip reason, or null when all are
 * there. With FCGID_REQUIRE_PEERS=1 a missing program throws, so CI cannot go green
 * on skipped peer tests.
 */
export function missingPeers(...programs: string[]): string | null {
  const missing = programs.filter((p) => which(p) === null);
  return missing.length === 0 ? null : unavailable(`missing ${missing.join(', ')} (install with apt-get; see .ci/run)`);
}

/** Apache modules are files, not programs. */
export function missingFiles(...paths: string[]): string | null {
  const missing = paths.filter((p) => !existsSync(p));
  return missing.length === 0 ? null : unavailable(`missing ${missing.join(', ')} (install with apt-get; see .ci/run)`);
}

const UWSGI_PYTHON_PLUGIN = '/usr/lib/uwsgi/plugins/python3_plugin.so';

/** Flask under uWSGI: uwsgi, its python3 plugin, and Flask importable by the system interpreter, which that plugin runs. */
export function missingFlask(): string | null {
  const missing = missingPeers('uwsgi') ?? missingFiles(UWSGI_PYTHON_PLUGIN);
  if (missing !== null) return missing;
  if (run('/usr/bin/python3', ['-c', 'import flask']).status === 0) return null;
  return unavailable('/usr/bin/python3 cannot import flask (apt-get install python3-flask)');
}

/** flup for Python 3, beside the checkout (../shared/peers/README.md). */
export const FLUP = fileURLToPath(new URL('../../../shared/peers/flup-py3', import.meta.url));

/** Why Flask under flup cannot run here: /usr/bin/python3 with Flask, and flup beside the checkout. */
export function missingFlup(): string | null {
  const flup = missingFiles(`${FLUP}/flup/server/fcgi.py`);
  if (flup !== null) return flup;
  if (run('/usr/bin/python3', ['-c', 'import flask']).status === 0) return null;
  return unavailable('/usr/bin/python3 cannot import flask (apt-get install python3-flask)');
}

/** A skip reason, said on stderr; under FCGID_REQUIRE_PEERS=1 a failure instead. */
function unavailable(reason: string): string {
  if (REQUIRE_PEERS) throw new Error(`FCGID_REQUIRE_PEERS=1 but ${reason}`);
  process.stderr.write(`skipping: ${reason}\n`);
  return reason;
}

export class Scratch {
  readonly dir: string;
  constructor(prefix = 'fcgid-test-') {
    this.dir = mkdtempSync(join(tmpdir(), prefix));
  }
  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface Started {
  child: ChildProcess;
  pid: number;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (or signal name) when it exits. */
  exited: Promise<number | string>;
}

/**
 * Tracks every process a test file starts; `killAll()` (call it in afterAll/afterEach)
 * sends SIGKILL to each one's process group by pid, and only to those.
 */
export class Processes {
  private readonly started: Started[] = [];

  start(command: string, args: string[], options: SpawnOptions = {}): Started {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...options });
    if (child.pid === undefined) throw new Error(`could not start ${command}`);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | string>((resolve) => {
      child.once('exit', (code, signal) => resolve(code ?? signal ?? -1));
    });
    const started: Started = { child, pid: child.pid, output: () => out, exited };
    this.started.push(started);
    return started;
  }

  /** Stop one process: SIGTERM to its group, SIGKILL after `graceMs`. */
  async stop(p: Started, graceMs = 3000): Promise<void> {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return;
    signalGroup(p.pid, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(p.pid, 'SIGKILL'), graceMs);
    await p.exited;
    clearTimeout(timer);
    signalGroup(p.pid, 'SIGKILL'); // leftovers in the group (nginx workers, php-cgi children)
  }

  async killAll(): Promise<void> {
    const live = this.started.splice(0);
    for (const p of live) signalGroup(p.pid, 'SIGKILL');
    await Promise.all(live.map((p) => (p.child.exitCode !== null || p.child.signalCode !== null ? null : p.exited)));
  }
}

/** The signal to the process group of `pid`, else to `pid` alone; nothing if it is gone (as the daemon does it). */
const signalGroup = (pid: number, signal: NodeJS.Signals): void => realHost.killGroup(pid, signal);

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Resolve once `target` accepts a connection; retry on refusal until `timeoutMs`.
 * If `proc` exits first, reject with its output (a config error, usually).
 */
export async function waitForListen(
  target: { path: string } | { host: string; port: number },
  proc?: Started,
  timeoutMs = 15000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  proc?.exited.then(() => (exited = true));
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    if (exited) throw new Error(`process ${proc!.pid} exited before listening:\n${proc!.output()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(target as net.NetConnectOpts, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) {
      throw new Error(`nothing listening on ${JSON.stringify(target)} after ${timeoutMs} ms${proc ? `\n${proc.output()}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, delay));
  }
}

/**
 * Re-evaluate `probe` (with a growing pause, 10 to 100 ms) until it returns
 * something truthy, and resolve with that; reject after `timeoutMs`. For state
 * that nothing announces (a status document, /proc, a file).
 */
export async function poll<T>(what: string, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 10; ; delay = Math.min(delay * 2, 100)) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, delay));
  }
}

export interface Ran {
  status: number | string;
  stdout: string;
  stderr: string;
}

/**
 * Run a program to completion through Processes (so it is killed if the test
 * dies), with `input` on its stdin if given; resolves with its exit status (or
 * signal name) and everything it wrote.
 */
export async function runToEnd(processes: Processes, command: string, args: string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<Ran> {
  const p = processes.start(command, args, {
    ...(options.env ? { env: options.env } : {}),
    ...(options.input !== undefined ? { stdio: ['pipe', 'pipe', 'pipe'] } : {}),
  });
  let stdout = '';
  let stderr = '';
  p.child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  p.child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  // 'close' comes after the last output chunk.
  const status = new Promise<number | string>((resolve) => p.child.once('close', (code, signal) => resolve(code ?? signal ?? -1)));
  if (options.input !== undefined) p.child.stdin!.end(options.input);
  return { status: await status, stdout, stderr };
}

/** Run a program to completion (for version probes and setup steps). */
export function run(command: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}
