// One worker, started the way `fcgid start` starts it (realHost.spawn: its own
// process group, the pool's user, group, umask, cwd and environment, the
// listening socket on socket_fd) but on a private socket in a fresh temp dir,
// so that nothing of a running fcgid (its socket, registry or workers) is
// touched. One FastCGI request goes to it, and the doctor waits for the answer
// until the timeout, the worker's exit, or a socket of its own shows it will
// never accept on ours. Then its whole tree is killed and everything removed.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatAddress, type Address } from '../fastcgi/address.js';
import { findHeadEnd, parseHead } from '../fastcgi/cgi-head.js';
import { FastCGIClient } from '../fastcgi/client.js';
import { ResponseHeadError } from '../fastcgi/errors.js';
import { closeListener, openListeners } from '../host/listeners.js';
import { workerTree } from '../host/observe.js';
import { realHost } from '../host/processes.js';
import { processStart, socketFds, socketInode, tcpRows, unixRows } from '../host/procnet.js';
import type { SpawnSpec } from '../supervisor/port.js';
import { Capture, OUTPUT_BOUND } from './capture.js';
import type { Cleanup } from './cleanup.js';
import type { ExitFacts, Outcome, ResponseFacts, RunFacts } from './types.js';

export interface WorkerPlan {
  /** The spawn spec of slot 0, without the socket (it is the doctor's own). */
  spec: Omit<SpawnSpec, 'socketFd'>;
  params: Record<string, string>;
  timeoutMs: number;
  backlog: number;
}

/** How often /proc is read for the worker's tree and its own sockets while the doctor waits. */
const POLL_MS = 100;
/** After the worker exits with nothing left of its group, how long its last records (already in the socket) get to arrive. */
const EXIT_GRACE_MS = 250;
/** A worker seen listening on a socket of its own still gets this long to answer on ours before the wait ends. */
const OWN_SOCKET_GRACE_MS = 1000;
/** How long a killed worker gets to be reported gone. */
const KILL_WAIT_MS = 5000;
/** The body shown in the report. */
const BODY_SHOWN = 1024;
/** Sockets of its own a worker is reported with, at most. */
const MAX_LISTENERS = 20;

export async function runWorker(plan: WorkerPlan, cleanup: Cleanup): Promise<RunFacts> {
  // A unix socket path holds at most 107 bytes: a long TMPDIR would not do.
  const dir = mkdtempSync(join(Buffer.byteLength(tmpdir()) > 64 ? '/tmp' : tmpdir(), 'fcgid-doctor-'));
  cleanup.add(() => rmSync(dir, { recursive: true, force: true }));
  const address: Address = { kind: 'unix', path: join(dir, 'worker.sock') };
  const [listener] = await openListeners([{ address, backlog: plan.backlog }]);
  cleanup.add(() => closeListener(listener!));
  const ours = socketInode(listener!.fd!);

  const stdout = new Capture();
  const stderr = new Capture();
  const fcgiStderr = new Capture();
  const output = (): RunFacts['output'] => ({ stdout: stdout.text(), stderr: stderr.text(), fcgiStderr: fcgiStderr.text() });
  // Set by the spawn's onExit: the worker's exit, or why it could not start.
  const ended: { exit: ExitFacts | null; error: NodeJS.ErrnoException | null } = { exit: null, error: null };
  let reportExit: () => void = () => {};
  const exited = new Promise<void>((resolve) => (reportExit = resolve));
  const t0 = Date.now();
  const pid = realHost.spawn(
    { ...plan.spec, socketFd: listener!.fd! },
    {
      onExit(code, signal, error) {
        ended.exit = { code, signal, afterMs: Date.now() - t0 };
        ended.error = (error as NodeJS.ErrnoException | undefined) ?? null;
        reportExit();
      },
      onLine(stream, line) {
        (stream === 'stdout' ? stdout : stderr).line(line);
      },
    },
  );

  if (pid === null) {
    await within(exited, KILL_WAIT_MS);
    return {
      started: false,
      pid: null,
      spawnError: ended.error?.code ?? ended.error?.message ?? 'unknown',
      outcome: 'not-started',
      ms: null,
      response: null,
      error: null,
      firstBytes: '',
      output: output(),
      exit: null,
      ownListeners: [],
    };
  }

  // Every process of the worker's tree seen so far (pid and start time), so that
  // one that left its group (flup's forking server) is killed too.
  const seen = new Map<number, string>();
  const leaderStart = processStart(pid);
  /** Still the process the doctor started: once it is reaped its pid may be another's. */
  const alive = (p: number, start: string | null | undefined): boolean => start != null && processStart(p) === start;
  const kill = (): void => {
    const survivors = [...seen].filter(([p, start]) => alive(p, start));
    if (alive(pid, leaderStart)) realHost.signalTree(pid, 'SIGKILL');
    // The group's id cannot be given to a new process while a member lives.
    if (alive(pid, leaderStart) || survivors.length > 0) realHost.signalGroup(pid, 'SIGKILL');
    for (const [p] of survivors) realHost.kill(p, 'SIGKILL');
  };
  cleanup.add(kill);

  let outcome: Outcome | null = null;
  /** The wait is over: the worker's exit from here on is the doctor's doing. */
  let done = false;
  const abort = new AbortController();
  const stop = (why: Outcome): void => {
    if (outcome !== null) return;
    outcome = why;
    abort.abort();
  };
  const own = new Set<string>();
  const timers: NodeJS.Timeout[] = [setTimeout(() => stop('timeout'), plan.timeoutMs)];
  const look = (): void => {
    // From the processes still known to be the worker's, never from a pid that may have been reused.
    const roots = alive(pid, leaderStart) ? [pid] : [...seen].filter(([p, start]) => alive(p, start)).map(([p]) => p);
    for (const p of roots.flatMap((r) => workerTree(r))) {
      const start = processStart(p);
      if (start !== null && !seen.has(p)) seen.set(p, start);
    }
    const before = own.size;
    if (own.size < MAX_LISTENERS) for (const a of ownListeners([...seen.keys()], ours)) own.add(a);
    if (before === 0 && own.size > 0) timers.push(setTimeout(() => stop('own-socket'), OWN_SOCKET_GRACE_MS));
  };
  look();
  const poll = setInterval(look, POLL_MS);
  void exited.then(() => {
    if (outcome !== null || done) return;
    // Nothing of its tree is left to accept the connection waiting in the backlog
    // (zombies count as gone: processStart is null for them).
    const left = [...seen].some(([p, start]) => p !== pid && processStart(p) === start);
    if (!left) timers.push(setTimeout(() => stop('exited'), EXIT_GRACE_MS));
  });

  const client = new FastCGIClient({ address, keepConn: false, timeout: plan.timeoutMs, connectTimeout: plan.timeoutMs });
  const raw: Buffer[] = [];
  let rawBytes = 0;
  let answered: { ok: true } | { ok: false; err: Error };
  try {
    const ex = await client.exchange({ params: plan.params, signal: abort.signal });
    ex.stdout.on('data', (chunk: Buffer) => {
      if (rawBytes < OUTPUT_BOUND) raw.push(chunk.subarray(0, OUTPUT_BOUND - rawBytes));
      rawBytes += chunk.length;
    });
    ex.stderr.on('data', (chunk: Buffer) => fcgiStderr.push(chunk.toString('utf8')));
    // The streams fail with the exchange; `end` says how.
    ex.stdout.on('error', () => {});
    ex.stderr.on('error', () => {});
    await ex.end;
    answered = { ok: true };
  } catch (err) {
    answered = { ok: false, err: err as Error };
  }
  const ms = Date.now() - t0;
  done = true;
  clearInterval(poll);
  for (const t of timers) clearTimeout(t);
  client.close();
  if (ended.exit === null) look();

  const stdoutBytes = Buffer.concat(raw);
  let response: ResponseFacts | null = null;
  let error: RunFacts['error'] = null;
  if (answered.ok) {
    try {
      response = responseOf(stdoutBytes, rawBytes);
      outcome = 'answered';
    } catch (err) {
      error = { code: (err as ResponseHeadError).code ?? 'FCGI_BAD_RESPONSE_HEAD', message: (err as Error).message };
      outcome = 'failed';
    }
  } else if (outcome === null) {
    const code = (answered.err as { code?: string }).code ?? 'ERROR';
    error = { code, message: answered.err.message };
    outcome = code === 'FCGI_TIMEOUT' || code === 'FCGI_CONNECT_TIMEOUT' ? 'timeout' : 'failed';
  }

  // The worker's own exit, if it came before the doctor ends it.
  const exit = ended.exit;
  kill();
  await within(exited, KILL_WAIT_MS);

  return {
    started: true,
    pid,
    spawnError: null,
    outcome: outcome ?? 'failed',
    ms: outcome === 'answered' ? ms : null,
    response,
    error,
    firstBytes: stdoutBytes.subarray(0, 200).toString('utf8'),
    output: output(),
    exit,
    ownListeners: [...own].sort().slice(0, MAX_LISTENERS),
  };
}

/** The CGI head and the body's start, or the ResponseHeadError a web server would log. */
function responseOf(stdout: Buffer, total: number): ResponseFacts {
  const end = findHeadEnd(stdout);
  if (end === -1) {
    throw new ResponseHeadError(
      stdout.length === 0 ? 'the application ended its output without a CGI header section' : "the application's output has no blank line after its CGI headers",
    );
  }
  const head = parseHead(stdout.toString('latin1', 0, end));
  return {
    status: head.status,
    statusText: head.statusText,
    headers: head.rawHeaders,
    body: stdout.subarray(end, end + BODY_SHOWN).toString('utf8'),
    bodyBytes: total - end,
  };
}

/** Sockets in LISTEN state that these processes hold, other than `ours`. */
export function ownListeners(pids: readonly number[], ours: number | null): string[] {
  const held = new Set<number>();
  for (const p of pids) {
    try {
      for (const inode of socketFds(p).values()) if (inode !== ours) held.add(inode);
    } catch {
      // Gone, or not ours to read: nothing to say about it.
    }
  }
  if (held.size === 0) return [];
  const out: string[] = [];
  for (const r of unixRows()) if (r.listening && held.has(r.inode)) out.push(`unix:${r.path}`);
  for (const r of tcpRows()) if (r.state === '0A' && held.has(r.inode)) out.push(formatAddress({ kind: 'tcp', host: r.host!, port: r.port! }));
  return out;
}

/** `promise`, or nothing after `ms`; the timer does not outlive it. */
async function within(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
