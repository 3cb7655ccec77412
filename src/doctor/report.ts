// What `fcgid doctor` prints: a short report of what it ran and saw, the
// worker's output in full (within its bound), then one `diagnosis:` line per
// finding with its fix; or with --json one document with the same facts
// (docs/doctor.md gives its schema). Pure: an Observation and its diagnoses in,
// text out.

import type { Diagnosis, Observation } from './types.js';

export interface DoctorDocument {
  pool: string;
  config: string;
  path: string;
  command: string[];
  listen: string;
  user: string;
  uid: number;
  gid: number;
  cwd: string;
  script_dir: string | null;
  started: boolean;
  pid: number | null;
  spawn_error: string | null;
  outcome: string;
  ms: number | null;
  response: { status: number; status_text: string; headers: Array<[string, string]>; body: string; body_bytes: number } | null;
  error: { code: string; message: string } | null;
  output: { stdout: string; stderr: string; fcgi_stderr: string };
  exit: { code: number | null; signal: string | null; after_ms: number } | null;
  own_listeners: string[];
  python: Observation['python'];
  module_found_in: string | null;
  env: { worker: Record<string, string>; shell_only: string[] };
  web: Observation['web'];
  diagnoses: Diagnosis[];
}

export function document(o: Observation, diagnoses: Diagnosis[]): DoctorDocument {
  const run = o.run;
  const r = run?.response ?? null;
  return {
    pool: o.pool,
    config: o.config,
    path: o.path,
    command: o.command,
    listen: o.listen,
    user: o.user.user,
    uid: o.user.uid,
    gid: o.user.gid,
    cwd: o.cwd.path,
    script_dir: o.scriptDir,
    started: run?.started ?? false,
    pid: run?.pid ?? null,
    spawn_error: run?.spawnError ?? null,
    outcome: run?.outcome ?? 'not-started',
    ms: run?.ms ?? null,
    response: r && { status: r.status, status_text: r.statusText, headers: r.headers, body: r.body, body_bytes: r.bodyBytes },
    error: run?.error ?? null,
    output: { stdout: run?.output.stdout ?? '', stderr: run?.output.stderr ?? '', fcgi_stderr: run?.output.fcgiStderr ?? '' },
    exit: run?.exit ? { code: run.exit.code, signal: run.exit.signal, after_ms: run.exit.afterMs } : null,
    own_listeners: run?.ownListeners ?? [],
    python: o.python,
    module_found_in: o.moduleFoundIn,
    env: { worker: o.env.worker, shell_only: o.env.shellOnly },
    web: o.web,
    diagnoses,
  };
}

/** Control characters but tab and newline, C1 included (ESC starts a terminal's escape sequences, CR rewrites a line). */
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

/** Names in one line, shortened past `max`. */
function names(list: readonly string[], max = 40): string {
  if (list.length === 0) return '(none)';
  return list.length <= max ? list.join(' ') : `${list.slice(0, max).join(' ')} … and ${list.length - max} more`;
}

function block(title: string, text: string): string[] {
  const body = text.replace(/\n+$/, '');
  if (body === '') return [];
  const lines = body.split('\n');
  return [`${title} (${lines.length} line${lines.length === 1 ? '' : 's'}):`, ...lines.map((l) => `    ${l}`)];
}

export function text(o: Observation, diagnoses: Diagnosis[]): string {
  const run = o.run;
  const out: string[] = [`fcgid doctor: pool ${o.pool} of ${o.config}, GET ${o.path}`];
  const row = (k: string, v: string): void => void out.push(`  ${k.padEnd(8)} ${v}`);
  row('command', o.command.join(' '));
  row('user', run === null ? `${o.user.user} (does not resolve here)` : `${o.user.user} (uid ${o.user.uid}, gid ${o.user.gid})`);
  // php-cgi and fcgiwrap run each script from its own directory: only an app's cwd can differ from it.
  row('cwd', o.kind === 'app' && o.scriptDir !== null && o.scriptDir !== o.cwd.path ? `${o.cwd.path} (the script is in ${o.scriptDir})` : o.cwd.path);
  row('socket', `a private one on fd ${o.socketFd}; the pool's own (${o.listen}) is not touched`);
  if (run === null) row('started', 'no: the worker cannot run as a user or group that does not exist');
  else if (!run.started) row('started', `no: spawn ${run.spawnError}`);
  else {
    const e = run.exit;
    row('started', `pid ${run.pid}${e ? `; it exited (${e.signal ?? `status ${e.code}`}) after ${e.afterMs} ms` : '; stopped by the doctor afterwards'}`);
  }
  if (run?.started) {
    const r = run.response;
    if (r) {
      const type = r.headers.find(([n]) => n.toLowerCase() === 'content-type')?.[1];
      row('answer', `${r.status}${r.statusText ? ` ${r.statusText}` : ''} in ${run.ms} ms, ${r.bodyBytes} bytes${type ? ` of ${type}` : ''}`);
      for (const [n, v] of r.headers) out.push(`           ${n}: ${v}`);
    } else {
      const why: Record<string, string> = {
        exited: 'the worker exited first',
        timeout: `nothing within ${o.timeoutMs} ms`,
        'own-socket': 'it never accepted on the socket it was given',
        failed: run.error ? `${run.error.code}: ${run.error.message}` : 'the request failed',
      };
      row('answer', `none: ${why[run.outcome] ?? run.outcome}`);
    }
    if (run.ownListeners.length > 0) row('listens', `also on ${run.ownListeners.join(', ')}`);
  }
  if (o.python) row('python', 'executable' in o.python ? `${o.python.executable}; sys.path: ${o.python.path.join(' ')}` : o.python.error);
  row('env', `the worker gets ${names(Object.keys(o.env.worker).sort())}`);
  if (o.env.shellOnly.length > 0) row('', `your shell also has ${names(o.env.shellOnly)} (the worker does not)`);
  row('web', o.web.users.map((u) => `${u.name} (${u.from})`).join(', '));
  if (run) {
    out.push(...block('stdout', run.output.stdout), ...block('stderr', run.output.stderr), ...block('FastCGI stderr', run.output.fcgiStderr));
    if (run.response && run.response.bodyBytes > 0 && run.response.status >= 400) out.push(...block('body', run.response.body));
  }
  if (diagnoses.length === 0) out.push(`healthy: the worker answered ${run?.response?.status} in ${run?.ms} ms`);
  for (const d of diagnoses) out.push(`diagnosis: ${d.code}: ${d.message} — fix: ${d.fix}`);
  // The worker's output, headers and paths are its own bytes: no terminal control sequence of theirs reaches the operator's terminal.
  return `${out.join('\n').replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}\n`;
}
