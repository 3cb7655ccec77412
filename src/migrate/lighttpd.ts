// lighttpd → fcgid. Each fastcgi.server backend with a bin-path (one lighttpd
// spawns) becomes a pool: ".php" => … is web.kind php at /, "/app" => … is
// web.mount /app. Its processes move to fcgid, so lighttpd must stop spawning
// them: each pool says which lines of the entry to drop and which socket to
// name. Backends without bin-path are already started elsewhere.

import { splitCommand } from '../config/command.js';
import { LIMITS } from '../config/types.js';
import { Draft, defaultSocket, type PoolDraft } from './draft.js';
import { MigrateError } from './errors.js';
import { parseLighttpd, type Assignment, type LItem, type LValue } from './lighttpd-parse.js';
import { isPhpCgi, nameFromCommand } from './text.js';

/** Options that are lighttpd's own handling of requests: they stay in lighttpd.conf. */
const WEB_SIDE = new Set([
  'check-local',
  'broken-scriptfilename',
  'fix-root-scriptname',
  'strip-request-uri',
  'x-sendfile',
  'x-sendfile-docroot',
  'allow-x-send-file',
  'tcp-fin-propagate',
  'connect-timeout',
  'read-timeout',
  'write-timeout',
  'disable-time',
  'max-load-per-proc',
  'mode',
]);
/** Options that described the processes lighttpd spawned: fcgid's now, to be removed from the entry. */
const SPAWNING = ['bin-path', 'max-procs', 'min-procs', 'idle-timeout', 'bin-environment', 'bin-copy-environment', 'kill-signal', 'listen-backlog'];
const SIGNAL_NUMBERS: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 3: 'SIGQUIT', 9: 'SIGKILL', 10: 'SIGUSR1', 12: 'SIGUSR2', 15: 'SIGTERM' };
/** lighttpd's defaults (gw_backend.c): 4 processes, 60 s idle. */
const DEFAULT_PROCS = 4;
const DEFAULT_IDLE = 60;

interface Option {
  value: LValue;
  line: number;
}

export function fromLighttpd(text: string, file: string): Draft {
  const conf = parseLighttpd(text, file);
  const draft = new Draft('lighttpd', file);
  for (const i of conf.includes)
    draft.note(i.line, i.text, 'fcgid import reads one file: import included files that hold fastcgi.server as well, into one config');
  for (const u of conf.unresolved) {
    draft.note(
      u.line,
      u.name,
      `${u.name.startsWith('env.') ? "lighttpd's own environment" : 'not set in this file'}; fcgid does not expand it: the output holds \${${u.name}}, write the value in`,
    );
  }
  const unconditional = (name: string): Assignment | undefined => conf.assignments.filter((a) => a.name === name && a.conditions.length === 0).at(-1);
  const docroot = unconditional('server.document-root');
  const group = unconditional('server.groupname');
  const webGroup =
    group?.value.kind === 'string' ? { name: group.value.value, from: 'server.groupname' } : { name: 'www-data', from: 'the group lighttpd runs as on Debian' };
  const aliases = conf.assignments.filter((a) => a.name === 'alias.url').flatMap((a) => (a.value.kind === 'array' ? a.value.items : []));
  for (const a of conf.assignments.filter((x) => x.name === 'fastcgi.server')) {
    if (a.value.kind !== 'array') throw new MigrateError(file, a.line, 'fastcgi.server must be a list: ( "/app" => (( "bin-path" => … )) )');
    for (const ext of a.value.items) entry(draft, a, ext, file, docroot, aliases, webGroup);
  }
  return draft;
}

/** One `"<ext or prefix>" => ( backends )` entry. */
function entry(
  draft: Draft,
  a: Assignment,
  ext: LItem,
  file: string,
  docroot: Assignment | undefined,
  aliases: LItem[],
  group: { name: string; from: string },
): void {
  if (ext.key === null || ext.value.kind !== 'array') {
    throw new MigrateError(file, ext.line, 'expected "<extension or /prefix>" => (( "bin-path" => … )) in fastcgi.server');
  }
  const hosts = ext.value.items;
  for (const host of hosts) {
    if (host.value.kind !== 'array') throw new MigrateError(file, host.line, `expected ( "option" => value, … ) for a backend of "${ext.key}"`);
    const opts = new Map<string, Option>();
    for (const o of host.value.items) {
      if (o.key === null) throw new MigrateError(file, o.line, `expected "option" => value in the backend of "${ext.key}"`);
      opts.set(o.key, { value: o.value, line: o.line });
    }
    const bin = opts.get('bin-path');
    const where = `fastcgi.server "${ext.key}"${host.key ? ` backend "${host.key}"` : ''}`;
    if (!bin) {
      const to = str(opts.get('socket')?.value) || `${str(opts.get('host')?.value) || '127.0.0.1'}:${str(opts.get('port')?.value) || '80'}`;
      draft.note(
        host.line,
        `${where} (${to})`,
        'no bin-path: lighttpd only connects there, and something else starts that program (spawn-fcgi, supervisord, php-fpm): import that one instead; lighttpd keeps this entry as it is',
      );
      continue;
    }
    const pool = backend(draft, ext.key, host, opts, bin, file, where, hosts.length > 1);
    if (String(pool.get('listen')).startsWith('unix:')) pool.openTo(group.name, group.from);
    if (hosts.length > 1) {
      pool.note(
        host.line,
        where,
        `lighttpd balanced "${ext.key}" over ${hosts.length} backends; one fcgid pool's workers share one socket, so these pools can become one with the workers added up`,
      );
    }
    for (const c of a.conditions) pool.webServer.push(`the entry sat inside ${c} { … }: keep it inside that condition.`);
    web(pool, ext.key, opts, docroot, aliases);
  }
}

function backend(draft: Draft, ext: string, host: LItem, opts: Map<string, Option>, bin: Option, file: string, where: string, several: boolean): PoolDraft {
  const command = splitCommand(str(bin.value));
  if (command === null || command.length === 0) throw new MigrateError(file, bin.line, '"bin-path" is empty or opens a quote it never closes; fix it');
  // Named after the extension or prefix (".php" is php, "/app" is app); a backend's label ("localhost", often) only tells several apart.
  const fromExt = (ext.startsWith('.') ? ext.slice(1) : ext.replace(/^\/+|\/+$/g, '').replace(/\//g, '-')) || nameFromCommand(command);
  const wanted = several && host.key !== null && /[A-Za-z]/.test(host.key) ? `${fromExt}-${host.key}` : fromExt;
  const pool = draft.addPool(wanted, `lighttpd ${where} (line ${host.line})`, host.line);
  pool.set('command', command, 'bin-path');

  for (const [name, { value, line }] of opts) {
    const at = `"${name}" => ${show(value)}`;
    switch (name) {
      case 'bin-path':
      case 'socket':
      case 'host':
      case 'port':
      case 'max-procs':
      case 'min-procs':
      case 'idle-timeout':
      case 'docroot':
        break; // below
      case 'bin-environment':
        for (const i of value.kind === 'array' ? value.items : []) {
          if (i.key !== null && i.value.kind !== 'array') pool.setEnv(i.key, String(i.value.value));
        }
        break;
      case 'bin-copy-environment': {
        // lighttpd: with a list, only those variables are copied from its environment.
        const names = (value.kind === 'array' ? value.items : [])
          .filter((i) => i.value.kind === 'string')
          .map((i) => String((i.value as { value: string }).value));
        pool.set('clear_env', true, 'bin-copy-environment: only these are copied');
        if (names.length > 0) pool.set('pass_env', names, 'bin-copy-environment');
        break;
      }
      case 'kill-signal': {
        const signal = value.kind === 'number' ? SIGNAL_NUMBERS[value.value] : null;
        if (signal) pool.set('stop_signal', signal, `kill-signal ${show(value)}`);
        else pool.note(line, at, 'not a signal number fcgid knows; left out (fcgid sends SIGTERM)');
        break;
      }
      case 'listen-backlog':
        pool.integer('backlog', show(value), 'listen-backlog', line, 1, LIMITS.backlog);
        break;
      default:
        if (WEB_SIDE.has(name)) pool.note(line, at, "lighttpd's own handling of requests: it stays in the lighttpd entry");
        else pool.note(line, at, 'not a fastcgi.server option fcgid knows; left out');
    }
  }
  size(pool, opts);
  listen(pool, ext, opts);
  return pool;
}

/** min-procs / max-procs / idle-timeout, with lighttpd's defaults: min-procs is capped at max-procs, and below it the backend grows and shrinks. */
function size(pool: PoolDraft, opts: Map<string, Option>): void {
  const number = (o: Option | undefined): number | null =>
    o && o.value.kind === 'number' ? o.value.value : o && /^\d+$/.test(str(o.value)) ? Number(str(o.value)) : null;
  const maxOpt = opts.get('max-procs');
  const max = number(maxOpt) ?? DEFAULT_PROCS;
  const min = Math.min(number(opts.get('min-procs')) ?? DEFAULT_PROCS, max);
  if (max < 1 || max > LIMITS.workers) {
    pool.note(maxOpt?.line ?? null, `"max-procs" => ${max}`, `fcgid runs 1 to ${LIMITS.workers.toLocaleString('en-US')} workers; set workers by hand`);
    return;
  }
  if (min === max) {
    pool.set('workers', max, maxOpt ? 'max-procs' : "lighttpd's default max-procs");
    return;
  }
  pool.set('min_workers', Math.max(min, 1), opts.has('min-procs') ? 'min-procs' : "lighttpd's default min-procs");
  pool.set('max_workers', max, maxOpt ? 'max-procs' : "lighttpd's default max-procs");
  const idle = opts.get('idle-timeout');
  pool.seconds('spare_idle_timeout', number(idle) ?? DEFAULT_IDLE, idle ? 'idle-timeout' : "lighttpd's default idle-timeout", idle?.line ?? null);
}

/** fcgid's socket, and the lines of the entry lighttpd must change to use it. */
function listen(pool: PoolDraft, ext: string, opts: Map<string, Option>): void {
  const host = str(opts.get('host')?.value);
  const port = str(opts.get('port')?.value);
  const socket = str(opts.get('socket')?.value) || (host.startsWith('/') ? host : '');
  const drop = SPAWNING.filter((o) => opts.has(o)).map((o) => `"${o}"`);
  let keep: string;
  if (socket === '' && /^\d{1,5}$/.test(port || '80')) {
    const h = host === '' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
    pool.set('listen', `tcp://${h}:${port || '80'}`, 'host, port');
    keep = `keep "host" and "port" (fcgid listens on ${port || '80'} for every worker, where lighttpd gave each process its own port from there up)`;
  } else {
    pool.set('listen', defaultSocket(pool.name), socket ? `lighttpd's own were ${socket}-N` : "fcgid's socket");
    keep = `set "socket" => "${defaultSocket(pool.name).slice('unix:'.length)}" (fcgid's socket, one for every worker; lighttpd made ${socket || 'its own'}-0, -1, … per process)`;
  }
  pool.webServer.push(
    `in lighttpd.conf, fastcgi.server "${ext}": remove ${drop.join(', ')} and ${keep}, so lighttpd connects to fcgid instead of spawning. \`fcgid web-config lighttpd -c FILE\` prints the whole entry.`,
  );
}

function web(pool: PoolDraft, ext: string, opts: Map<string, Option>, docroot: Assignment | undefined, aliases: LItem[]): void {
  const command = pool.get('command') as string[];
  const php = ext === '.php' || isPhpCgi(command[0]!);
  if (ext.startsWith('/')) pool.mount(ext, 'fastcgi.server', opts.get('bin-path')!.line);
  else pool.web.mount = '/';
  pool.web.kind = php ? 'php' : 'app';
  if (!php && ext.startsWith('.')) {
    pool.note(
      null,
      `"${ext}"`,
      `lighttpd sent every file ending in ${ext} to this program; fcgid's kind app sends every URL under web.mount: set web.mount to where those files are`,
    );
  }
  const root = opts.get('docroot');
  if (root && root.value.kind === 'string') pool.root(root.value.value, '"docroot"', root.line);
  else if (php && docroot && docroot.value.kind === 'string') pool.root(docroot.value.value, 'server.document-root', docroot.line);
  if (php) return;
  for (const a of aliases) {
    if (a.key === null || a.value.kind !== 'string') continue;
    const url = a.key.replace(/\/+$/, '');
    const mount = pool.web.mount ?? '/';
    if (mount === '/' || url.startsWith(`${mount}/`)) pool.staticDir(a.key, a.value.value, 'alias.url', a.line);
  }
}

function str(v: LValue | undefined): string {
  return v === undefined || v.kind === 'array' ? '' : String(v.value);
}

function show(v: LValue): string {
  if (v.kind === 'string') return JSON.stringify(v.value);
  if (v.kind === 'number') return String(v.value);
  return `( ${v.items.map((i) => (i.key === null ? show(i.value) : `"${i.key}" => ${show(i.value)}`)).join(', ')} )`;
}
