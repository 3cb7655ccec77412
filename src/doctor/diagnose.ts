// From what the doctor saw to what is wrong and what to change: one rule per
// cause that Flask's FastCGI guide (and every FastCGI deployment since) lists,
// each a pure function of the Observation, so that each can be tested on a
// recorded one. A healthy worker gets none.
//
// The generic conclusions (it exited, it said nothing, it answered 500) only
// stand when no rule found the cause: "exited with status 1" adds nothing to
// "No module named 'yourapplication'".

import { basename, dirname } from 'node:path';
import { formatMode } from '../config/view.js';
import { cgiHeaderOnStdout, importError, lastLine, namedVariables } from './clues.js';
import { DEFAULT_PATH, X, permitted } from './access.js';
import type { Diagnosis, DiagnosisCode, Observation, PathFacts } from './types.js';

type Rule = (o: Observation) => Diagnosis[];

/** Said only when nothing more precise explains the worker's failure. */
const GENERIC: ReadonlySet<DiagnosisCode> = new Set(['spawn-failed', 'exited', 'no-answer', 'error-status', 'closes-connection']);
/** About the pool's socket or names, not about why the worker fails: they do not make the generic ones redundant. */
const BESIDE: ReadonlySet<DiagnosisCode> = new Set(['socket-unreachable', 'no-such-user', 'no-such-group']);
/** A diagnosis per variable or file named in the output, at most. */
const MAX_EACH = 5;

export function diagnose(o: Observation): Diagnosis[] {
  const all = RULES.flatMap((rule) => rule(o));
  const explained = all.some((d) => !GENERIC.has(d.code) && !BESIDE.has(d.code));
  return all.filter((d) => !(explained && GENERIC.has(d.code)));
}

// --- helpers ---

/** The worker answered with a proper CGI head. */
export function answered(o: Observation): boolean {
  return o.run?.outcome === 'answered' && o.run.response !== null;
}

/** It did not answer, or answered with a server error. */
function failed(o: Observation): boolean {
  return o.run !== null && (!answered(o) || o.run.response!.status >= 500);
}

/** Everything the worker said, where a traceback or a PHP fatal may be. */
function said(o: Observation): string {
  const out = o.run?.output;
  return out ? `${out.stderr}\n${out.fcgiStderr}\n${out.stdout}` : '';
}

function d(code: DiagnosisCode, message: string, fix: string): Diagnosis {
  return { code, message, fix };
}

const mode = (m: number | null): string => formatMode(m === null ? null : m & 0o7777) ?? '?';

/** "mode 0700, owner uid 0" */
function perms(f: { mode: number | null; uid: number | null }): string {
  return `mode ${mode(f.mode)}, owner uid ${f.uid}`;
}

/** A command line as a shell reads it back: words with spaces or shell characters in single quotes. */
function shellLine(words: readonly string[]): string {
  return words.map((w) => (/^[\w./=:,+@%-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function exitText(e: { code: number | null; signal: string | null }): string {
  return e.signal !== null ? `signal ${e.signal}` : `status ${e.code}`;
}

/** A directory on the way to `f` that the worker's user may not enter. */
function blocked(o: Observation, f: PathFacts, what: string): Diagnosis | null {
  const u = o.user.user;
  if (f.blockedAt) {
    const b = f.blockedAt;
    return d(
      'permission-denied',
      `${u} cannot enter ${b.dir} (${perms({ mode: b.mode, uid: b.uid })}), on the way to ${what} ${f.path}`,
      `chmod o+x ${b.dir} (or give ${u}'s group search permission on it), or move the app where ${u} can reach it`,
    );
  }
  return null;
}

// --- the rules, in the order the report gives them ---

/** user, group, socket_owner, socket_group naming nobody: `fcgid start` would refuse the config (identityProblems). */
const identities: Rule = (o) =>
  o.identityProblems.map((p) => d(p.missing === 'group' ? 'no-such-group' : 'no-such-user', p.what, `${p.fix} (getent passwd / getent group list what exists)`));

/**
 * The worker's cwd. fcgid enters it as root, before it switches user, so a
 * directory above it that the user may not search does not matter; one the
 * user may not search itself makes every relative path fail with EACCES.
 */
const cwd: Rule = (o) => {
  const c = o.cwd;
  const u = o.user.user;
  if (!c.exists) return [d('bad-cwd', `cwd ${c.path} does not exist`, `create it, or set cwd: in pool ${o.pool} to the app's directory`)];
  if (c.kind !== 'dir') return [d('bad-cwd', `cwd ${c.path} is not a directory`, `set cwd: in pool ${o.pool} to the app's directory`)];
  if (c.mode !== null && c.uid !== null && c.gid !== null && !permitted(o.user, { mode: c.mode, uid: c.uid, gid: c.gid }, X, true)) {
    return [
      d(
        'bad-cwd',
        `${u} may not search its cwd ${c.path} (${perms(c)}): fcgid enters it as root, but every relative path the app opens then fails with permission denied`,
        `chmod o+x ${c.path} (or give ${u}'s group search permission on it), or set cwd: in pool ${o.pool} to a directory ${u} can enter`,
      ),
    ];
  }
  return [];
};

const program: Rule = (o) => {
  const p = o.program;
  if (!p) return [];
  const u = o.user.user;
  const r = p.resolved;
  if (r === null) {
    return [
      d(
        'not-found',
        `${p.name} is not in the worker's PATH (${p.searchPath})${p.inShellPath ? `; your shell finds it at ${p.inShellPath}` : ''}`,
        p.inShellPath
          ? `write its full path in command of pool ${o.pool} (${p.inShellPath}), or set PATH under env: to include ${dirname(p.inShellPath)}`
          : `install it, or write its full path in command of pool ${o.pool}`,
      ),
    ];
  }
  const gate = blocked(o, r, 'the program');
  if (gate) return [gate];
  if (!r.exists) {
    const where = p.name === r.path ? '' : ` (${p.name}, taken relative to cwd ${o.cwd.path})`;
    return [d('not-found', `the program ${r.path} does not exist${where}`, `fix command in pool ${o.pool}: give the program's absolute path`)];
  }
  if (r.kind !== 'file') {
    const what = r.kind === 'dir' ? 'a directory' : 'not a regular file';
    return [d('not-executable', `${r.path} is ${what}, not a program`, `name the program itself in command of pool ${o.pool}`)];
  }
  const out: Diagnosis[] = [];
  const s = p.shebang;
  const interp = s?.facts?.exists && s.facts.executable && !s.crlf ? s.facts.path : (s?.alternative ?? p.looksLike);
  if (!r.executable) {
    out.push(
      d(
        'not-executable',
        `${r.path} is not executable for ${u} (${perms(r)})`,
        `chmod +x ${r.path}${interp ? `, or run it through its interpreter: command: [${interp}, ${r.path}]` : ''}`,
      ),
    );
  }
  if (p.format === 'shebang' && s) {
    const named = s.env ? `/usr/bin/env ${s.env.name}` : s.interpreter.replace(/\r$/, '');
    const instead = s.alternative ? ` (this machine has ${s.alternative})` : '';
    const orCommand = `, or name the interpreter in command: [${s.alternative ?? 'INTERPRETER'}, ${r.path}]`;
    if (s.crlf) {
      out.push(
        d(
          'bad-shebang',
          `${r.path} has Windows line endings: its #! line asks the kernel for "${(s.env ? s.env.name : s.interpreter.replace(/\r$/, '')) + '\\r'}", which does not exist`,
          `convert the file to Unix line endings: sed -i 's/\\r$//' ${r.path} (or dos2unix ${r.path})`,
        ),
      );
    } else if (s.interpreter === '') {
      out.push(d('bad-shebang', `the #! line of ${r.path} names no interpreter`, `write the interpreter's absolute path after #!${instead}${orCommand}`));
    } else if (s.env && s.env.found === null) {
      out.push(
        d(
          'bad-shebang',
          `${r.path} starts with #!${named}, and the worker's PATH (${o.env.worker.PATH ?? DEFAULT_PATH}) has no ${s.env.name}`,
          `write the interpreter's absolute path in the #! line${instead}, or set PATH under env: of pool ${o.pool}`,
        ),
      );
    } else if (!s.env && s.facts && !s.facts.exists) {
      out.push(d('bad-shebang', `${r.path} starts with #!${named}, which does not exist`, `change its first line to an interpreter that exists${instead}${orCommand}`));
    } else if (!s.env && s.facts && !s.facts.executable) {
      const why = s.facts.blockedAt ? `${u} cannot enter ${s.facts.blockedAt.dir}` : `it is not executable for ${u} (${perms(s.facts)})`;
      out.push(d('bad-shebang', `${r.path} starts with #!${named}, and ${why}`, `point its first line at an interpreter ${u} may run${instead}${orCommand}`));
    } else if (r.executable && !r.readable) {
      out.push(d('permission-denied', `${u} cannot read ${r.path} (${perms(r)}), which its interpreter ${named} must open`, `chmod o+r ${r.path} (or give it to ${u}'s group)`));
    }
  } else if (p.format === 'text') {
    const to = p.looksLike ?? 'INTERPRETER';
    out.push(
      d(
        'no-shebang',
        `${r.path} is a text file without a #! line, so it runs under /bin/sh${p.looksLike ? ` (it looks written for ${basename(p.looksLike)})` : ''}`,
        `make "#!${to}" its first line, or name the interpreter in command: [${to}, ${r.path}]`,
      ),
    );
  }
  return out;
};

/** The script an interpreter is given: python3 /var/www/app/app.fcgi. */
const script: Rule = (o) => {
  const s = o.script;
  if (!s) return [];
  const gate = blocked(o, s, 'the script');
  if (gate) return [gate];
  if (!s.exists) {
    const where = s.arg === s.path ? '' : ` (${s.arg}, taken relative to cwd ${o.cwd.path})`;
    return [d('not-found', `the script ${s.path} does not exist${where}`, `fix command in pool ${o.pool}: give the script's absolute path, or set cwd: to its directory`)];
  }
  if (!s.readable) return [d('permission-denied', `${o.user.user} cannot read the script ${s.path} (${perms(s)})`, `chmod o+r ${s.path} (or give it to ${o.user.user}'s group)`)];
  return [];
};

const spawnFailed: Rule = (o) =>
  o.run && !o.run.started ? [d('spawn-failed', `the worker could not start: spawn ${o.run.spawnError}`, `check command and cwd of pool ${o.pool}`)] : [];

const imports: Rule = (o) => {
  if (!o.run?.started || answered(o)) return [];
  const clue = importError(said(o));
  if (!clue) return [];
  const py = o.python && 'executable' in o.python ? o.python : null;
  const exe = py?.executable ?? 'its python';
  const top = clue.module?.split('.')[0] ?? 'the module';
  const hints: string[] = [];
  const found = o.moduleFoundIn;
  const venv = o.env.shellPaths.VIRTUAL_ENV;
  if (venv && o.env.worker.VIRTUAL_ENV === undefined) hints.push(`your shell has the virtualenv ${venv} active: command: [${venv}/bin/python, …]`);
  const pp = o.env.shellPaths.PYTHONPATH;
  const theirs = o.env.worker.PYTHONPATH;
  if (pp && theirs !== pp) hints.push(`your shell has PYTHONPATH=${pp}, the worker ${theirs === undefined ? 'none' : `PYTHONPATH=${theirs}`}`);
  return [
    d(
      'import-error',
      `the worker ${o.run.exit ? `exited (${exitText(o.run.exit)}) on` : 'failed on'} an import: ${clue.line} (python: ${exe})`,
      found !== null
        ? `add ${found} to PYTHONPATH under env: of pool ${o.pool}: ${top} is there, and the worker's sys.path does not have it${hints.length ? `; ${hints.join('; ')}` : ''}`
        : `install ${top} for ${exe} (${exe} -m pip install ${top}), add the directory that holds it to PYTHONPATH under env: of pool ${o.pool}, or point command at the virtualenv's python${hints.length ? `; ${hints.join('; ')}` : ''}`,
    ),
  ];
};

const relative: Rule = (o) => {
  if (!o.run || o.scriptDir === null || o.scriptDir === o.cwd.path) return [];
  return o.files
    .filter((f) => !f.inCwd && f.inScriptDir)
    .slice(0, MAX_EACH)
    .map((f) =>
      d(
        'relative-path',
        `the app could not open "${f.name}" relative to its cwd ${o.cwd.path}; it is in the script's directory ${o.scriptDir}`,
        `set cwd: ${o.scriptDir} in pool ${o.pool}, or open it by an absolute path built from the script's own location`,
      ),
    );
};

const environment: Rule = (o) => {
  if (!failed(o)) return [];
  const shellOnly = new Set(o.env.shellOnly);
  return namedVariables(said(o))
    .filter((n) => shellOnly.has(n))
    .slice(0, MAX_EACH)
    .map((n) =>
      d(
        'env-missing',
        `the app needs ${n} (its output names it), which your shell has and the worker does not${o.clearEnv ? ' (clear_env: true keeps only env: and pass_env:)' : ''}`,
        o.clearEnv
          ? `add ${n} to pass_env: of pool ${o.pool} (it then gets fcgid's own value: under systemd, set it in the unit), or set it under env:`
          : `set ${n} under env: of pool ${o.pool}: fcgid started by systemd does not get your shell's environment`,
      ),
    );
};

const cgi: Rule = (o) => {
  if (!o.run?.started || answered(o)) return [];
  const line = cgiHeaderOnStdout(o.run.output.stdout);
  if (line === null) return [];
  const file = o.script?.path ?? o.program?.resolved?.path ?? o.command[0] ?? '';
  const root = o.scriptDir ?? dirname(file);
  return [
    d(
      'speaks-cgi',
      `${file} printed a CGI response on its stdout ("${line}")${o.run.exit ? ' and exited' : ''}: it is a CGI program, not a FastCGI server`,
      `run it through fcgiwrap: command: [/usr/sbin/fcgiwrap] with web: { kind: cgi, root: ${root}, mount: /cgi-bin } in pool ${o.pool}; /cgi-bin/${basename(file)} then runs it (fcgid web-config prints the web server's side)`,
    ),
  ];
};

const ownSocket: Rule = (o) => {
  if (!o.run?.ownListeners.length || answered(o)) return [];
  const b = o.command.indexOf('-b');
  const php = /^php[\d.]*-cgi/.test(basename(o.command[0] ?? ''));
  const fd = o.socketFd > 2 ? `fd ${o.socketFd} (named by FCGID_LISTEN_FD)` : 'fd 0';
  return [
    d(
      'binds-own-socket',
      `the worker listens on a socket of its own (${o.run.ownListeners.join(', ')}) instead of accepting on the one fcgid hands it on ${fd}`,
      php && b !== -1
        ? `remove "-b ${o.command[b + 1] ?? ''}" from command of pool ${o.pool}: php-cgi then accepts on fd 0`
        : `remove bindAddress= from WSGIServer(...) (flup: WSGIServer(app).run() takes fd 0), or the program's own bind or listen option: the socket comes on ${fd}`,
    ),
  ];
};

const PROTOCOL_CODES = /^FCGI_(?:BAD_VERSION|UNKNOWN_TYPE|BAD_RECORD_LENGTH|RECORD_TOO_LARGE|BAD_PAIR|OUT_OF_ORDER|BAD_REQUEST_ID|TRUNCATED)$/;

/** uWSGI started without --protocol=fastcgi reads a FastCGI request as its own uwsgi protocol, logs "unavailable modifier requested: 1" and closes. */
function uwsgiWithoutFastcgi(command: readonly string[]): boolean {
  if (!/^uwsgi/.test(basename(command[0] ?? ''))) return false;
  return !command.some(
    (a, i) =>
      /^--(?:socket-)?protocol[= ]fastcgi$/.test(a) ||
      a.startsWith('--fastcgi-socket') ||
      ((a === '--protocol' || a === '--socket-protocol') && command[i + 1] === 'fastcgi'),
  );
}

const protocol: Rule = (o) => {
  const e = o.run?.error;
  if (!e) return [];
  const exited = o.run!.exit ? `, then exited (${exitText(o.run!.exit)})` : '';
  if ((e.code === 'FCGI_CONNECTION_CLOSED' || PROTOCOL_CODES.test(e.code)) && uwsgiWithoutFastcgi(o.command)) {
    const logged = said(o).includes('unavailable modifier requested: 1') ? ' (its log: "unavailable modifier requested: 1")' : '';
    return [
      d(
        'not-fastcgi',
        `uWSGI read the FastCGI request as its own uwsgi protocol and dropped it${logged}`,
        `add --protocol=fastcgi to command of pool ${o.pool} (or protocol = fastcgi in its ini file)`,
      ),
    ];
  }
  if (e.code === 'FCGI_CONNECTION_CLOSED') {
    return [
      d(
        'closes-connection',
        `the worker accepted the connection and closed it without a FastCGI answer${exited}: the web server logs "Connection reset by peer" and answers 502`,
        `make the program a FastCGI server taking the socket on fd ${o.socketFd} (flup's WSGIServer(app).run(), php-cgi, fcgiwrap, uwsgi --protocol=fastcgi); its output above says why it closed`,
      ),
    ];
  }
  if (PROTOCOL_CODES.test(e.code)) {
    return [
      d(
        'not-fastcgi',
        `the worker answered with bytes that are not FastCGI records (${e.message}): it speaks another protocol on the socket`,
        'run a FastCGI server on the socket (an HTTP server belongs behind proxy_pass, not fastcgi_pass)',
      ),
    ];
  }
  if (e.code === 'FCGI_BAD_RESPONSE_HEAD') {
    return [
      d(
        'bad-headers',
        `the response does not start with CGI headers ("premature end of script headers"): ${e.message}; its first bytes: ${JSON.stringify(o.run!.firstBytes.slice(0, 80))}`,
        'print nothing to stdout before the headers (log to stderr instead), and end the headers with an empty line',
      ),
    ];
  }
  return [];
};

const phpNoInput: Rule = (o) => {
  const r = o.run?.response;
  if (o.kind !== 'php' || !r || r.status !== 404 || !r.body.includes('No input file specified')) return [];
  return [
    d(
      'no-input-file',
      `php-cgi found no script at SCRIPT_FILENAME ${o.scriptFilename} ("No input file specified.")`,
      `set web.root of pool ${o.pool} to the directory that holds the PHP scripts and let ${o.user.user} read it, or ask for a path that exists`,
    ),
  ];
};

const errorStatus: Rule = (o) => {
  const r = o.run?.response;
  if (!r || r.status < 500) return [];
  const last = lastLine(`${o.run!.output.stderr}\n${o.run!.output.fcgiStderr}`);
  return [
    d(
      'error-status',
      `the app answered ${r.status}${r.statusText ? ` ${r.statusText}` : ''}${last ? `; its error output ends: ${last}` : ''}`,
      `the error is the app's own: see its output above (a running pool's is in fcgictl logs ${o.pool})`,
    ),
  ];
};

const exited: Rule = (o) => {
  const run = o.run;
  if (!run?.started || !run.exit || answered(o)) return [];
  const last = lastLine(`${run.output.stderr}\n${run.output.stdout}`);
  return [
    d(
      'exited',
      `the worker exited (${exitText(run.exit)}) ${run.exit.afterMs} ms after it started, without answering${last ? `; its last output: ${last}` : ''}`,
      `its output above says why; by hand, as fcgid runs it: cd ${o.cwd.path} && ${o.user.uid === 0 ? '' : `sudo -u ${o.user.user} `}${shellLine(o.command)}, with the worker's environment shown above`,
    ),
  ];
};

const silent: Rule = (o) => {
  const run = o.run;
  if (!run || (run.outcome !== 'timeout' && run.outcome !== 'own-socket') || run.exit) return [];
  return [
    d(
      'no-answer',
      `the worker started but sent nothing in ${o.timeoutMs} ms: it is stuck starting (a database, a lock), or not accepting on fd ${o.socketFd}`,
      'see its output above; a slow start needs a longer --timeout (and start_secs)',
    ),
  ];
};

const reach: Rule = (o) =>
  o.web.problems.map((p) => d('socket-unreachable', p.what, p.fix));

const RULES: readonly Rule[] = [
  identities,
  cwd,
  program,
  script,
  spawnFailed,
  imports,
  relative,
  environment,
  cgi,
  ownSocket,
  protocol,
  phpNoInput,
  errorStatus,
  exited,
  silent,
  reach,
];
