// supervisord → fcgid. Each [fcgi-program:x] is a pool: supervisord binds the
// socket and hands it to numprocs copies of the command on fd 0, as fcgid does.
// %(program_name)s, %(here)s and %(numprocs)d are expanded; %(process_num)d in
// the command becomes the worker's slot (FCGID_WORKER) through sh. [program:x]
// and supervisord's own sections become comments saying what to do instead.

import { splitCommand } from '../config/command.js';
import { LIMITS } from '../config/types.js';
import { Draft, defaultSocket, parseInteger, type PoolDraft } from './draft.js';
import { MigrateError } from './errors.js';
import { readIni, type IniEntry, type IniSection } from './ini.js';
import { isPhpCgi, shellQuote } from './text.js';

/** The widest %(name)Ns supervisord's expansion is given room for. */
const MAX_WIDTH = 256;

const OWN_SECTIONS = new Set(['supervisord', 'supervisorctl', 'unix_http_server', 'inet_http_server']);
const LOG_ADVICE =
  "fcgid logs each line of the workers' stdout and stderr as JSON with pool, worker, pid and stream (log.file, or the journal): no per-program log file or rotation to set; `fcgictl logs POOL` shows them";
const SIGNALS = new Set(['TERM', 'HUP', 'INT', 'QUIT', 'KILL', 'USR1', 'USR2']);

export function fromSupervisord(text: string, file: string, here: string | null): Draft {
  const draft = new Draft('supervisord', file);
  for (const section of readIni(text, file, 'python')) {
    const [kind, name] = splitName(section.name);
    if (kind === 'fcgi-program' && name) fcgiProgram(draft, section, name, here, file);
    else if (kind === 'program' && name) program(draft, section);
    else if (kind === 'group') draft.note(section.line, `[${section.name}]`, 'fcgid has no groups: fcgictl acts on one pool by name, or on every pool');
    else if (kind === 'eventlistener') {
      draft.note(
        section.line,
        `[${section.name}]`,
        'fcgid has no event listeners: `fcgictl logs -f` follows pool events, and GET /metrics serves them to Prometheus',
      );
    } else if (kind === 'include') {
      const files = section.entries.find((e) => e.key === 'files')?.value ?? '';
      draft.note(
        section.line,
        `[include] files = ${files}`,
        'fcgid import reads one file: import each included file as well and put their pools in one config',
      );
    } else if (kind === 'rpcinterface' || OWN_SECTIONS.has(kind)) {
      draft.note(
        section.line,
        `[${section.name}]`,
        "supervisord's own daemon, control socket and web UI: fcgid's are control.socket and log.file in this file, fcgictl replaces supervisorctl, and systemd starts fcgid",
      );
    } else {
      draft.note(section.line, `[${section.name}]`, 'not a section supervisord documents; left out');
    }
  }
  return draft;
}

function splitName(section: string): [string, string] {
  const colon = section.indexOf(':');
  return colon < 0 ? [section.trim(), ''] : [section.slice(0, colon).trim(), section.slice(colon + 1).trim()];
}

/** The last value of each key (configparser with strict=False, as supervisord sets it: a later line wins). */
function byKey(section: IniSection): Map<string, IniEntry> {
  return new Map(section.entries.map((e) => [e.key, e]));
}

function fcgiProgram(draft: Draft, section: IniSection, name: string, here: string | null, file: string): void {
  const entries = byKey(section);
  const pool = draft.addPool(name, `[${section.name}] (line ${section.line})`, section.line);
  const numprocs = parseInteger(entries.get('numprocs')?.value ?? '1') ?? 1;
  const start = parseInteger(entries.get('numprocs_start')?.value ?? '0') ?? 0;
  const vars: Record<string, string | number> = { program_name: name, group_name: name, numprocs };
  if (here !== null) vars.here = here;
  /** A value with supervisord's %(name)s expanded; what cannot be is noted and left as written. */
  const value = (e: IniEntry, withProcessNum = false): string => {
    const unknown = new Set<string>();
    const out = expand(e.value, vars, unknown, withProcessNum);
    for (const v of unknown) {
      const advice = v.startsWith('ENV_')
        ? `%(${v})s is supervisord's own environment at start-up; fcgid does not expand it: write the value in`
        : v === 'process_num'
          ? "fcgid workers share one setting; each worker finds its slot (0, 1, …) in FCGID_WORKER: use that in the program's code instead"
          : v === 'here'
            ? `%(here)s is the directory of the config file, unknown for standard input: write the directory in`
            : `%(${v})s: fcgid does not expand it; write the value in`;
      pool.note(e.line, `${e.key}=${e.value}`, advice);
    }
    return out;
  };

  const command = entries.get('command');
  if (!command) throw new MigrateError(file, section.line, `[${section.name}] has no command=; supervisord would refuse it too`);
  const words = splitCommand(value(command, true));
  if (words === null) throw new MigrateError(file, command.line, 'the command opens a quote it never closes; close it');
  if (words.length === 0) throw new MigrateError(file, command.line, 'command= is empty; name the program to run');
  pool.set('command', withWorkerSlot(words, start), 'command');
  if (isPhpCgi(words[0]!)) pool.web.kind = 'php';

  for (const e of section.entries) {
    if (entries.get(e.key) !== e) continue;
    setting(pool, e, value, file);
  }
  if (!entries.has('socket')) {
    pool.set('listen', defaultSocket(pool.name));
    pool.note(section.line, 'socket', `[fcgi-program] needs socket=; supervisord would refuse this section. fcgid listens on ${defaultSocket(pool.name)}`);
  }
  pool.webServer.push(
    `it keeps talking to ${String(pool.get('listen'))}, the socket supervisord used: nothing changes there. If the app is not at the site's root URL, set web.mount so that fcgid web-config writes the right location.`,
  );
}

/** One [fcgi-program:x] setting onto the pool. */
function setting(pool: PoolDraft, e: IniEntry, value: (e: IniEntry) => string, file: string): void {
  const at = `${e.key}=${e.value}`;
  const v = e.value.trim().toLowerCase();
  switch (e.key) {
    case 'command':
      return;
    case 'socket':
      return socket(pool, e, value(e));
    case 'socket_owner': {
      const owner = value(e);
      if (/^[^:\s]+(:[^:\s]+)?$/.test(owner)) return pool.set('socket_owner', owner, e.key);
      return pool.note(e.line, at, 'expected a user, or user:group; left out: set socket_owner by hand');
    }
    case 'socket_mode':
      return pool.mode('socket_mode', e.value, e.key, e.line);
    case 'socket_backlog':
      return void pool.integer('backlog', e.value, e.key, e.line, 1, LIMITS.backlog);
    case 'numprocs':
      return void pool.integer('workers', e.value, e.key, e.line, 1, LIMITS.workers);
    case 'directory':
      return pool.set('cwd', value(e), e.key);
    case 'user':
      return pool.set('user', value(e), e.key);
    case 'umask':
      return pool.mode('umask', e.value, e.key, e.line);
    case 'environment':
      return environment(pool, e, value(e), file);
    case 'autorestart': {
      const restart = v === 'true' ? 'always' : v === 'false' ? 'never' : v === 'unexpected' ? 'on-failure' : null;
      if (restart) pool.set('restart', restart, `autorestart=${v}`);
      else pool.note(e.line, at, 'expected true, false or unexpected; left out (fcgid restarts always)');
      return;
    }
    case 'startsecs':
      return seconds(pool, 'start_secs', e);
    case 'startretries':
      return void pool.integer('start_retries', e.value, e.key, e.line, 0, LIMITS.startRetries);
    case 'stopsignal': {
      const name = v.toUpperCase().replace(/^SIG/, '');
      if (SIGNALS.has(name)) pool.set('stop_signal', `SIG${name}`, e.key);
      else pool.note(e.line, at, 'not a signal supervisord accepts; left out (fcgid sends SIGTERM)');
      return;
    }
    case 'stopwaitsecs':
      return seconds(pool, 'stop_timeout', e);
    case 'exitcodes':
      if (e.value.split(',').every((c) => c.trim() === '0')) return;
      return pool.note(
        e.line,
        at,
        'fcgid counts only exit status 0 as expected (restart: on-failure restarts after any other); make the program exit 0 when it means to stop',
      );
    case 'priority':
      return pool.note(
        e.line,
        at,
        'fcgid starts every pool at once; start order only matters for programs that need each other, which FastCGI workers should not',
      );
    case 'autostart':
      if (v === 'true') return;
      return pool.note(e.line, at, 'fcgid starts every pool it is given: leave this pool out of the config, or stop it after start with `fcgictl stop POOL`');
    case 'stopasgroup':
    case 'killasgroup':
      if (v === 'true') return;
      return pool.note(e.line, at, "fcgid always signals the worker's whole process group, so its children stop with it");
    case 'numprocs_start':
    case 'process_name':
      return pool.note(e.line, at, `fcgid names workers ${pool.name}/0, ${pool.name}/1, … in its logs and status; each worker finds its slot in FCGID_WORKER`);
    case 'redirect_stderr':
    case 'serverurl':
      if (e.key === 'serverurl') return pool.note(e.line, at, 'programs reach fcgid through fcgictl and its control socket, not an XML-RPC URL');
      return pool.note(e.line, at, LOG_ADVICE);
    default:
      if (/^std(out|err)_/.test(e.key)) return pool.note(e.line, at, LOG_ADVICE);
      return pool.note(e.line, at, 'not an [fcgi-program] setting fcgid knows; left out');
  }
}

function seconds(pool: PoolDraft, key: 'start_secs' | 'stop_timeout', e: IniEntry): void {
  const n = parseInteger(e.value);
  if (n === null) pool.note(e.line, `${e.key}=${e.value}`, `expected a number of seconds; left out (fcgid's default ${key} applies)`);
  else pool.seconds(key, n, e.key, e.line);
}

/** socket=unix:///path or tcp://host:port. */
function socket(pool: PoolDraft, e: IniEntry, text: string): void {
  const unix = /^unix:\/\/(\/.*)$/.exec(text);
  const tcp = /^tcp:\/\/(\[[0-9A-Fa-f:.]+\]|[^:/[\]]*):(\d{1,5})$/.exec(text);
  if (unix) pool.set('listen', `unix:${unix[1]}`, 'socket');
  else if (tcp) {
    const host = tcp[1] === '' || tcp[1] === '*' ? '0.0.0.0' : tcp[1]!;
    pool.set('listen', `tcp://${host}:${tcp[2]}`, 'socket');
  } else {
    pool.set('listen', defaultSocket(pool.name));
    pool.note(
      e.line,
      `socket=${e.value}`,
      `expected unix:///path or tcp://host:port; fcgid listens on ${defaultSocket(pool.name)} instead: point the web server there`,
    );
  }
}

/** environment=KEY="value",KEY2=value2 (supervisord's shlex reading: quotes keep commas and spaces). */
function environment(pool: PoolDraft, e: IniEntry, text: string, file: string): void {
  const tokens: string[] = [];
  for (let i = 0; i < text.length;) {
    const c = text[i]!;
    if (/\s/.test(c)) i++;
    else if (c === '=' || c === ',') tokens.push(text[i++]!);
    else if (c === '"' || c === "'") {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw new MigrateError(file, e.line, `environment= opens a quote (${c}) it never closes; close it`);
      tokens.push(text.slice(i + 1, end));
      i = end + 1;
    } else {
      let j = i;
      while (j < text.length && !/[\s=,"']/.test(text[j]!)) j++;
      tokens.push(text.slice(i, j));
      i = j;
    }
  }
  for (let i = 0; i < tokens.length; i += 4) {
    const [k, eq, v, comma] = tokens.slice(i, i + 4);
    if (k === undefined || eq !== '=' || v === undefined || (comma !== undefined && comma !== ',') || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
      pool.note(e.line, `environment=${e.value}`, 'expected KEY="value",KEY2="value2"; supervisord would refuse it too: write env by hand');
      return;
    }
    pool.setEnv(k, v);
  }
}

/**
 * Python's %-formatting as supervisord applies it: %(name)s, %(name)02d, %%.
 * process_num, in the command, becomes a marker that withWorkerSlot turns into the slot.
 */
function expand(text: string, vars: Record<string, string | number>, unknown: Set<string>, withProcessNum: boolean): string {
  return text.replace(/%(?:%|\((\w+)\)([#0 +-]*)(\d*)(?:\.\d+)?([sdrif]))/g, (all, name: string | undefined, flags: string, width: string, type: string) => {
    if (name === undefined) return '%';
    if (name === 'process_num' && withProcessNum && type === 'd') return `\u0000${flags.includes('0') ? width : ''}\u0000`;
    const v = vars[name];
    if (v === undefined) {
      unknown.add(name);
      return all;
    }
    const s = String(v);
    // A width is for numbering processes; one past MAX_WIDTH is left out rather than made (%(x)300000000s).
    if (!width || s.length >= Number(width) || Number(width) > MAX_WIDTH) return s;
    return flags.includes('0') && typeof v === 'number' ? s.padStart(Number(width), '0') : s.padStart(Number(width));
  });
}

/** A command naming %(process_num)d runs through sh, which puts each worker's slot (plus numprocs_start) there. */
function withWorkerSlot(words: string[], start: number): string[] {
  if (!words.some((w) => w.includes('\u0000'))) return words;
  const slot = start === 0 ? '$FCGID_WORKER' : `$((FCGID_WORKER + ${start}))`;
  const script = words
    .map((w) =>
      w
        .split(/(\u0000\d*\u0000)/)
        .map((part) => {
          const m = /^\u0000(\d*)\u0000$/.exec(part);
          if (!m) return part === '' ? '' : shellQuote(part);
          return m[1] ? `"$(printf %0${m[1]}d "${slot}")"` : `"${slot}"`;
        })
        .join(''),
    )
    .join(' ');
  return ['/bin/sh', '-c', `exec ${script}`];
}

/** [program:x] has no socket from supervisord: a comment with what to do, by what the command is. */
function program(draft: Draft, section: IniSection): void {
  const command = byKey(section).get('command')?.value ?? '';
  const words = splitCommand(command) ?? [];
  const at = `[${section.name}] command=${command}`;
  if (words.some((w) => w.endsWith('spawn-fcgi'))) {
    draft.note(section.line, at, 'it runs spawn-fcgi: put that command line in a file and import it with `fcgid import --from spawn-fcgi FILE`');
  } else if (words[0] && isPhpCgi(words[0]) && words.includes('-b')) {
    const address = words[words.indexOf('-b') + 1] ?? '';
    draft.note(
      section.line,
      at,
      `php-cgi -b binds its own socket; in fcgid that is a pool with command php-cgi (without -b) and listen: ${address.startsWith('/') ? `unix:${address}` : `tcp://${address}`}`,
    );
  } else {
    draft.note(
      section.line,
      at,
      'a [program] gets no socket from supervisord, so it is not a FastCGI pool: keep it under supervisord or a systemd unit. If it binds a FastCGI socket itself (flup bindAddress, php-cgi -b), make it accept on the inherited fd 0 instead and add it as a pool with that address as listen',
    );
  }
}
