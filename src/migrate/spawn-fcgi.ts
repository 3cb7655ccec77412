// spawn-fcgi → fcgid. The input is a file holding a spawn-fcgi command line:
// a shell or init script, a systemd unit's ExecStart= (backslash continuations
// joined), or the line alone. Its options become one pool; Environment= lines,
// `export K=V` and `K=V spawn-fcgi …` become env. What spawn-fcgi did as a
// daemon (-P pid file, -n, chroot) becomes comments.

import { splitCommand } from '../config/command.js';
import { LIMITS } from '../config/types.js';
import { Draft, defaultSocket, type PoolDraft } from './draft.js';
import { MigrateError } from './errors.js';
import { quote } from './ini.js';
import { isPhpCgi, linesOf, nameFromCommand } from './text.js';

/** Flags whose value an fcgid key takes as it is. */
const SAME_MEANING: Record<string, 'cwd' | 'user' | 'group' | 'socket_owner' | 'socket_group'> = { d: 'cwd', u: 'user', g: 'group', U: 'socket_owner', G: 'socket_group' };

/** spawn-fcgi 1.6's getopt string: which options take a value. */
const WITH_VALUE = new Set('cdfgapbuCFsPUGM'.split(''));
const FLAGS = new Set('hnvS?'.split(''));
const SHELL_OPERATORS = new Set([';', '&&', '||', '|', '&', '>', '>>', '<', '2>&1', '>/dev/null', '2>/dev/null']);

interface Logical {
  text: string;
  line: number;
}

export function fromSpawnFcgi(text: string, file: string): Draft {
  const draft = new Draft('spawn-fcgi', file);
  const logical = joinContinuations(text);
  const found = logical.find((l) => !/^\s*[#;]/.test(l.text) && /(^|[\s/="'])spawn-fcgi(\s|$|["'])/.test(l.text));
  if (!found) throw new MigrateError(file, null, 'no spawn-fcgi command line found; give a file holding one (a script, a systemd unit, or the line alone)');
  const words = splitCommand(found.text.replace(/^\s*Exec\w*=[-@:+!]*/, ''));
  if (words === null) throw new MigrateError(file, found.line, 'the spawn-fcgi command line opens a quote it never closes; close it');
  const at = words.findIndex((w) => w.slice(w.lastIndexOf('/') + 1) === 'spawn-fcgi');
  if (at < 0) throw new MigrateError(file, found.line, `${quote(found.text.trim())} does not run spawn-fcgi itself; give the line that does`);
  const before = words.slice(0, at);
  let args = words.slice(at + 1);
  // start-stop-daemon --exec /usr/bin/spawn-fcgi -- ARGS: that -- is start-stop-daemon's.
  if (before.some((w) => w.endsWith('start-stop-daemon')) && args[0] === '--') args = args.slice(1);
  const cut = args.findIndex((w) => SHELL_OPERATORS.has(w));
  if (cut >= 0) args = args.slice(0, cut);

  const env = new Map<string, { value: string; line: number; from: string }>();
  for (const l of logical) environmentLine(l, env);
  for (const w of before) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(w);
    if (m) env.set(m[1]!, { value: m[2]!, line: found.line, from: 'the command line' });
  }
  const pool = fromArgs(draft, args, found.line, file);
  if (/^\s*Exec\w*=/.test(found.text)) {
    draft.note(
      found.line,
      'the systemd unit',
      'it ran spawn-fcgi; run fcgid instead: save this config as /etc/fcgid/NAME.yaml and `systemctl enable --now fcgid@NAME` (docs/systemd.md), then disable this unit',
    );
  }
  for (const [name, { value, from }] of env) if (!pool.env.has(name)) pool.setEnv(name, value, from);
  const unexpanded = [...new Set(args.flatMap((w) => w.match(/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/g) ?? []))];
  if (unexpanded.length > 0) pool.note(found.line, unexpanded.join(' '), 'a shell variable, unknown here and not expanded by fcgid: write its value in');
  return draft;
}

/** Lines with their backslash continuations joined, each with the line it starts on. */
function joinContinuations(text: string): Logical[] {
  const out: Logical[] = [];
  let pending: Logical | null = null;
  linesOf(text).forEach((raw, i) => {
    const more = /\\\s*$/.test(raw);
    const part = more ? raw.replace(/\\\s*$/, ' ') : raw;
    pending = pending ? { text: pending.text + part, line: pending.line } : { text: part, line: i + 1 };
    if (!more) {
      out.push(pending);
      pending = null;
    }
  });
  if (pending) out.push(pending);
  return out;
}

/** systemd's Environment="A=1" B=2, and a script's `export A=1`. */
function environmentLine(l: Logical, env: Map<string, { value: string; line: number; from: string }>): void {
  const unit = /^\s*Environment=(.*)$/.exec(l.text);
  const exported = /^\s*export\s+(.*)$/.exec(l.text);
  const words = unit || exported ? (splitCommand((unit ?? exported)![1]!) ?? []) : [];
  for (const w of words) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(w);
    if (m) env.set(m[1]!, { value: m[2]!, line: l.line, from: unit ? 'Environment=' : 'export' });
  }
}

/** spawn-fcgi's options (getopt, so -p9000 and -p 9000 alike) onto a new pool. */
function fromArgs(draft: Draft, args: string[], line: number, file: string): PoolDraft {
  const opts = new Map<string, string>();
  const flags = new Set<string>();
  let program: string[] | null = null;
  for (let i = 0; i < args.length && program === null; i++) {
    const w = args[i]!;
    if (w === '--') program = args.slice(i + 1);
    else if (!w.startsWith('-') || w === '-') program = args.slice(i);
    else {
      for (let j = 1; j < w.length; j++) {
        const c = w[j]!;
        if (WITH_VALUE.has(c)) {
          const value = j + 1 < w.length ? w.slice(j + 1) : args[++i];
          if (value === undefined) throw new MigrateError(file, line, `spawn-fcgi's -${c} needs a value; spawn-fcgi would refuse the line too`);
          opts.set(c, value);
          break;
        }
        if (!FLAGS.has(c)) throw new MigrateError(file, line, `-${c} is not a spawn-fcgi option (see spawn-fcgi -h); fix the line`);
        flags.add(c);
      }
    }
  }
  if (program !== null && program.length === 0) program = null;
  const f = opts.get('f');
  let command = program;
  if (command === null && f !== undefined) {
    // spawn-fcgi runs -f through `sh -c "exec …"`; plain words need no shell.
    command = /[$`|&;<>(){}*?~]/.test(f) ? ['/bin/sh', '-c', `exec ${f}`] : splitCommand(f);
  }
  if (command === null || command.length === 0) {
    throw new MigrateError(file, line, 'spawn-fcgi names no program: give it after -- (or with -f); spawn-fcgi would refuse the line too');
  }
  const pool = draft.addPool(nameFromCommand(command), `spawn-fcgi command line (line ${line})`, line);
  pool.set('command', command, program !== null ? 'the program after --' : '-f');
  if (isPhpCgi(command[0]!)) {
    pool.web.mount = '/';
    pool.web.kind = 'php';
  }
  if (program !== null && f !== undefined) pool.note(line, `-f ${f}`, 'spawn-fcgi ignores -f when a program follows --, and so does this import');
  const setting = (c: string): string => `-${c} ${opts.get(c)}`;

  for (const [c, v] of opts) {
    const key = SAME_MEANING[c];
    if (key !== undefined) {
      pool.set(key, v, `-${c}`);
      continue;
    }
    switch (c) {
      case 'M':
        pool.mode('socket_mode', v, '-M', line);
        break;
      case 'b':
        pool.integer('backlog', v, '-b', line, 1, LIMITS.backlog);
        break;
      case 'F':
        pool.integer('workers', v, '-F', line, 1, LIMITS.workers);
        break;
      case 'C':
        pool.setEnv('PHP_FCGI_CHILDREN', v, '-C: children each php-cgi forks itself');
        break;
      case 'P':
        pool.note(line, setting(c), "fcgid writes no pid file per program: `fcgictl status POOL` lists each worker's pid, and systemd knows fcgid's");
        break;
      case 'c':
        pool.note(
          line,
          setting(c),
          'fcgid does not chroot workers: run them as a user that can read only what it must (user, group), or use systemd RootDirectory= for all of fcgid',
        );
        break;
      default:
        break; // f, a, p, s: below
    }
  }
  for (const c of flags) {
    if (c === 'n') pool.note(line, '-n', 'spawn-fcgi stayed in the foreground for a supervisor; fcgid is that supervisor and keeps its workers running');
    else if (c === 'S') pool.note(line, '-S', 'fcgid switches to user and group itself (it needs to run as root for that)');
  }
  listen(pool, opts, line);
  pool.webServer.push(
    opts.has('s') || opts.has('p')
      ? `it keeps talking to ${String(pool.get('listen'))}, the socket spawn-fcgi made: nothing changes there.`
      : `point it at ${String(pool.get('listen'))}: \`fcgid web-config nginx|apache|lighttpd -c FILE\` prints the lines.`,
  );
  return pool;
}

/** -s PATH, or -a ADDR -p PORT. */
function listen(pool: PoolDraft, opts: Map<string, string>, line: number): void {
  const s = opts.get('s');
  const p = opts.get('p');
  const a = opts.get('a');
  if (s !== undefined) {
    pool.set('listen', `unix:${s}`, '-s');
    if (p !== undefined) pool.note(line, `-p ${p}`, 'spawn-fcgi takes -s or -p, not both (it refuses the line); the unix socket is kept');
    return;
  }
  if (p !== undefined && /^\d{1,5}$/.test(p) && Number(p) >= 1 && Number(p) <= 65535) {
    const host = a === undefined ? '0.0.0.0' : a.includes(':') ? `[${a}]` : a;
    pool.set('listen', `tcp://${host}:${p}`, a === undefined ? '-p (no -a: every address)' : '-a, -p');
    if (a === undefined)
      pool.note(
        line,
        `-p ${p}`,
        'without -a spawn-fcgi listened on every address, and so does fcgid here: write tcp://127.0.0.1:PORT if the web server is on this machine',
      );
    return;
  }
  pool.set('listen', defaultSocket(pool.name));
  const given = p === undefined ? 'no -s or -p' : `-p ${p}`;
  pool.note(line, given, `spawn-fcgi needs -s PATH or -p PORT (1 to 65535); fcgid listens on ${defaultSocket(pool.name)}: point the web server there`);
}
