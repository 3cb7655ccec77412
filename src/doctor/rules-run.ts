// The doctor's rules about the run: what the worker did with the request and
// what it printed (an ImportError, a missing variable, CGI on stdout, a socket
// of its own, bytes that are not FastCGI), then the generic ends (it exited,
// it said nothing, it answered 500) that diagnose.ts keeps only when nothing
// more precise explains them.

import { basename, dirname } from 'node:path';
import { kindOf } from '../config/load.js';
import { cgiHeaderOnStdout, importError, lastLine, namedVariables } from './clues.js';
import { MAX_EACH, answered, d, exitText, failed, outputOf, shellLine, type Rule } from './rule.js';

export const spawnFailed: Rule = (o) =>
  o.run && !o.run.started ? [d('spawn-failed', `the worker could not start: spawn ${o.run.spawnError}`, `check command and cwd of pool ${o.pool}`)] : [];

export const imports: Rule = (o) => {
  if (!o.run?.started || answered(o)) return [];
  const clue = importError(outputOf(o));
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

export const relative: Rule = (o) => {
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

export const environment: Rule = (o) => {
  if (!failed(o)) return [];
  const shellOnly = new Set(o.env.shellOnly);
  return namedVariables(outputOf(o))
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

export const cgi: Rule = (o) => {
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

export const ownSocket: Rule = (o) => {
  if (!o.run?.ownListeners.length || answered(o)) return [];
  const b = o.command.indexOf('-b');
  const php = kindOf(o.command) === 'php';
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

export const protocol: Rule = (o) => {
  const e = o.run?.error;
  if (!e) return [];
  const exited = o.run!.exit ? `, then exited (${exitText(o.run!.exit)})` : '';
  if ((e.code === 'FCGI_CONNECTION_CLOSED' || PROTOCOL_CODES.test(e.code)) && uwsgiWithoutFastcgi(o.command)) {
    const logged = outputOf(o).includes('unavailable modifier requested: 1') ? ' (its log: "unavailable modifier requested: 1")' : '';
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

export const phpNoInput: Rule = (o) => {
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

export const errorStatus: Rule = (o) => {
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

export const exited: Rule = (o) => {
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

/**
 * The last word when no rule spoke of a worker that started and did not answer
 * (the request refused: FCGI_OVERLOADED, FCGI_UNKNOWN_ROLE; the connection
 * refused): it is never "healthy".
 */
export const unanswered: Rule = (o) => {
  const run = o.run;
  if (!run?.started || answered(o)) return [];
  const why = run.error ? `${run.error.code}: ${run.error.message}` : `it ended ${run.outcome}`;
  return [d('no-answer', `the worker did not answer the request (${why})`, 'see its output above; fcgictl request against a running pool shows the same exchange')];
};

export const silent: Rule = (o) => {
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
