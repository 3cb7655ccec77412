// Drives the real `fcgid` binary for integration tests: writes a config into a
// Scratch dir, starts `node bin/fcgid start -c …` through Processes, parses its
// pino JSON log lines, and waits on them (a line that matches, or a condition
// over what the log said so far) — never on a timer. It also finds the
// daemon's children in /proc and kills every worker it ever saw, by pid.

import { readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import type { SpawnOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { processStart, statFields } from '../../src/host/procnet.js';
import { realHost } from '../../src/host/processes.js';

export { processStart };
import { FLUP, type Processes, type Scratch, type Started } from './peers.js';

export const FCGID_BIN = fileURLToPath(new URL('../../bin/fcgid', import.meta.url));

/** One pino line. `pid`, when present, is a worker's. */
export interface LogLine {
  level: number;
  msg: string;
  time?: string;
  pool?: string;
  worker?: number;
  slot?: string;
  pid?: number | null;
  reason?: string;
  from?: string;
  to?: string;
  signal?: string | null;
  code?: number | null;
  [field: string]: unknown;
}

export const LEVEL = { debug: 20, info: 30, warn: 40, error: 50 } as const;

/**
 * Write `config` (an object, turned into YAML) as `<name>.yaml` in the Scratch dir.
 * control.socket defaults to `<scratch>/<name>.ctl`, so the worker registry
 * (`<name>.workers.json`) lives there too; log.level defaults to debug, which
 * carries the slot state changes the helper follows.
 */
export function writeConfig(scratch: Scratch, name: string, config: Record<string, unknown>): string {
  const control = { socket: scratch.path(`${name}.ctl`), ...(config.control as object | undefined) };
  const log = { level: 'debug', ...(config.log as object | undefined) };
  const file = scratch.path(`${name}.yaml`);
  writeFileSync(file, stringify({ ...config, control, log }));
  return file;
}

/**
 * A php-cgi pool on `listen`: one process per worker (PHP_FCGI_CHILDREN=0),
 * since fcgid is the process manager. A fresh object each call: shared ones
 * would become YAML aliases.
 */
export function phpPool(listen: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { command: ['php-cgi'], listen, start_secs: '300ms', ...extra, env: { PHP_FCGI_CHILDREN: '0', ...(extra.env as object | undefined) } };
}

/**
 * A Flask pool under uWSGI on `listen`: uWSGI takes the inherited listening
 * socket on fd 0 by itself when given no socket option; --die-on-term because
 * its SIGTERM otherwise means "reload".
 */
export function flaskPool(wsgiFile: string, listen: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    command: ['uwsgi', '--plugin=python3', '--protocol=fastcgi', `--wsgi-file=${wsgiFile}`, '--callable=app', '--need-app', '--die-on-term', '--disable-logging'],
    listen,
    start_secs: '300ms',
    env: { PYTHONDONTWRITEBYTECODE: '1' },
    ...extra,
  };
}

/**
 * The Flask app of test/fixtures/flup/app.fcgi under flup on `listen`, the way
 * Flask's FastCGI guide deploys it: its threaded server, or with
 * `env: { FLUP_SERVER: 'fork' }` its pre-forking one. Debian's python3 (it has Flask).
 */
export function flupPool(listen: string, extra: Record<string, unknown> = {}, env: Record<string, string> = {}): Record<string, unknown> {
  return {
    command: ['/usr/bin/python3', fileURLToPath(new URL('../fixtures/flup/app.fcgi', import.meta.url))],
    listen,
    start_secs: '300ms',
    ...extra,
    env: { PYTHONPATH: FLUP, PYTHONDONTWRITEBYTECODE: '1', ...env },
  };
}

/**
 * The usual afterAll: each daemon stopped (SIGTERM, SIGKILL after `graceMs`)
 * and every worker it named killed, then every process the file started, then
 * the scratch dir.
 */
export async function tearDown(processes: Processes, scratch: Scratch | undefined, daemons: Array<Fcgid | undefined>, graceMs = 5000): Promise<void> {
  for (const d of daemons) {
    if (!d) continue;
    await processes.stop(d.proc, graceMs);
    d.killWorkers();
  }
  await processes.killAll();
  scratch?.remove();
}

/** When a log line was written, in ms since the epoch. */
export function lineTime(l: LogLine): number {
  return Date.parse(String(l.time));
}

/** Where the daemon keeps its worker records for a config written by writeConfig. */
export function registryFile(scratch: Scratch, name: string): string {
  return scratch.path(`${name}.workers.json`);
}

interface Waiter {
  check(): void;
  fail(err: Error): void;
}

export class Fcgid {
  readonly proc: Started;
  readonly lines: LogLine[] = [];
  /** Worker slots as the log last described them: "pool/index" → pid and state. */
  readonly slots = new Map<string, { pool: string; index: number; pid: number | null; state: string }>();
  /** Every worker pid the log named, with its start time, for cleanup. */
  private readonly workers = new Map<number, string | null>();
  private readonly waiters = new Set<Waiter>();
  private stdout = '';
  private stderrText = '';
  private partial = '';
  private exitStatus: number | string | null = null;

  /** `bin`: another install of fcgid (a copy of bin/ and dist/), for tests of the build itself. */
  constructor(processes: Processes, configFile: string, options: SpawnOptions = {}, bin = FCGID_BIN) {
    this.proc = processes.start(process.execPath, [bin, 'start', '-c', configFile], options);
    this.proc.child.stdout!.setEncoding('utf8');
    this.proc.child.stdout!.on('data', (chunk: string) => this.onStdout(chunk));
    this.proc.child.stderr!.on('data', (chunk: Buffer) => (this.stderrText += chunk.toString()));
    // 'close' comes after the last stdout chunk, so no line is missed.
    this.proc.child.once('close', (code, signal) => {
      const status = code ?? signal ?? -1;
      this.exitStatus = status;
      for (const w of [...this.waiters]) w.check();
      for (const w of [...this.waiters]) w.fail(new Error(`fcgid pid ${this.pid} exited (${status}) first\n${this.tail()}`));
    });
  }

  get pid(): number {
    return this.proc.pid;
  }

  get exited(): Promise<number | string> {
    return this.proc.exited;
  }

  /** What the daemon wrote on stderr (start-up failures go there as one line). */
  stderr(): string {
    return this.stderrText;
  }

  /** The index the next line will have: pass it to waitForLog to see only what comes after. */
  mark(): number {
    return this.lines.length;
  }

  /** Resolves with the first line from `from` on that matches; rejects if fcgid exits first or after `timeoutMs`. */
  waitForLog(predicate: (line: LogLine) => boolean, from = 0, timeoutMs = 20_000): Promise<LogLine> {
    return this.waitUntil(() => this.lines.slice(from).find(predicate), timeoutMs, predicate.toString());
  }

  /** Resolves with the first truthy value of `condition`, re-evaluated on each log line. */
  waitUntil<T>(condition: () => T | undefined | null | false, timeoutMs = 20_000, what = condition.toString()): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => waiter.fail(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.tail()}`)), timeoutMs);
      const waiter: Waiter = {
        check: () => {
          const value = condition();
          if (!value) return;
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(value);
        },
        fail: (err) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          reject(err);
        },
      };
      this.waiters.add(waiter);
      waiter.check();
      if (this.exitStatus !== null && this.waiters.has(waiter)) {
        waiter.fail(new Error(`fcgid pid ${this.pid} exited (${this.exitStatus}) before ${what}\n${this.tail()}`));
      }
    });
  }

  /** Pids of the pool's slots that the log last reported as running. */
  runningPids(pool: string): number[] {
    return [...this.slots.values()].filter((s) => s.pool === pool && s.state === 'running' && s.pid !== null).map((s) => s.pid!);
  }

  /** Resolves with the pids once `count` slots of the pool are running. */
  waitForRunning(pool: string, count: number, timeoutMs = 20_000): Promise<number[]> {
    return this.waitUntil(
      () => {
        const pids = this.runningPids(pool);
        return pids.length >= count ? pids : undefined;
      },
      timeoutMs,
      `${count} running worker(s) in pool ${pool}`,
    );
  }

  /** The daemon's live child processes, from /proc. */
  childPids(): number[] {
    return childPids(this.pid);
  }

  /** SIGKILL to the process group of every worker the log named that is still the same process. */
  killWorkers(): void {
    for (const [pid, start] of this.workers) {
      if (start === null || processStart(pid) !== start) continue;
      realHost.killGroup(pid, 'SIGKILL');
    }
  }

  /** The last log lines, for failure messages. */
  tail(n = 40): string {
    const out = this.stdout.split('\n').slice(-n).join('\n');
    return `--- fcgid stdout (last ${n} lines) ---\n${out}\n--- fcgid stderr ---\n${this.stderrText}`;
  }

  private onStdout(chunk: string): void {
    this.stdout += chunk;
    const parts = (this.partial + chunk).split('\n');
    this.partial = parts.pop()!;
    for (const text of parts) {
      if (text.trim() === '') continue;
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        line = { level: 0, msg: text, unparsed: true };
      }
      this.follow(line);
      this.lines.push(line);
      for (const w of [...this.waiters]) w.check();
    }
  }

  /** Slot state changes (debug lines with from/to) keep `slots` current. */
  private follow(line: LogLine): void {
    if (typeof line.to !== 'string' || typeof line.from !== 'string' || typeof line.worker !== 'number' || !line.pool) return;
    const pid = typeof line.pid === 'number' ? line.pid : null;
    this.slots.set(`${line.pool}/${line.worker}`, { pool: line.pool, index: line.worker, pid, state: line.to });
    if (pid !== null && !this.workers.has(pid)) this.workers.set(pid, processStart(pid));
  }
}

/** True while the process exists and is not a zombie (PID 1 here may reap orphans late). */
export function isRunning(pid: number): boolean {
  return processStart(pid) !== null;
}

/** Live children of `parent`: /proc/<pid>/task/*\/children when the kernel has it, else a /proc scan (ps --ppid). */
export function childPids(parent: number): number[] {
  const out = new Set<number>();
  let viaChildren = false;
  try {
    for (const task of readdirSync(`/proc/${parent}/task`)) {
      const text = readFileSync(`/proc/${parent}/task/${task}/children`, 'utf8');
      viaChildren = true;
      for (const p of text.trim().split(/\s+/).filter(Boolean)) out.add(Number(p));
    }
  } catch {
    viaChildren = false;
  }
  if (!viaChildren) {
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const fields = statFields(Number(name));
      if (fields && fields[1] === String(parent)) out.add(Number(name));
    }
  }
  return [...out].filter(isRunning).sort((a, b) => a - b);
}

/** A process's descriptors: fd number → readlink target ("socket:[123]", "pipe:[4]", a path). */
export function fdTargets(pid: number): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of readdirSync(`/proc/${pid}/fd`)) {
    try {
      out.set(Number(name), readlinkSync(`/proc/${pid}/fd/${name}`));
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/** The `flags:` of /proc/<pid>/fdinfo/<fd>, as a number (octal in the file). */
export function fdFlags(pid: number, fd: number): number {
  const m = /^flags:\s+([0-7]+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
  if (!m) throw new Error(`no flags in /proc/${pid}/fdinfo/${fd}`);
  return parseInt(m[1]!, 8);
}

export const O_NONBLOCK = 0o4000;

/** Inode of the listening unix socket bound to `path`, from /proc/net/unix. */
export function unixListenerInode(path: string): number | null {
  // Num RefCount Protocol Flags Type St Inode Path; Flags 00010000 is __SO_ACCEPTCON (listening).
  for (const row of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    const cols = row.trim().split(/\s+/);
    if (cols[7] === path && cols[3] === '00010000') return Number(cols[6]);
  }
  return null;
}
