// The doctor's rules (src/doctor/diagnose.ts) on recorded observations: what
// `fcgid doctor` saw of real workers on this machine (tracebacks, spawn
// errors, /proc listeners, file modes), one change from a healthy run per
// case. No process, socket or file is touched.

import { describe, expect, it } from 'vitest';
import { diagnose } from '../../src/doctor/diagnose.js';
import { text } from '../../src/doctor/report.js';
import { DIAGNOSIS_CODES, type Observation, type PathFacts, type RunFacts } from '../../src/doctor/types.js';
import { noSuch } from '../../src/host/identity.js';

const FLUP = '/work/shared/peers/flup-py3';

function file(path: string, extra: Partial<PathFacts> = {}): PathFacts {
  return { path, exists: true, kind: 'file', mode: 0o755, uid: 0, gid: 0, blockedAt: null, readable: true, executable: true, ...extra };
}

function run(extra: Partial<RunFacts> = {}): RunFacts {
  return {
    started: true,
    pid: 4121,
    spawnError: null,
    outcome: 'answered',
    ms: 124,
    response: { status: 200, statusText: 'OK', headers: [['Content-Type', 'text/html; charset=utf-8']], body: "hello from the doctor's patient\n", bodyBytes: 32 },
    error: null,
    firstBytes: 'Content-Type: text/html; charset=utf-8\r\n',
    output: { stdout: '', stderr: '', fcgiStderr: '' },
    exit: null,
    ownListeners: [],
    ...extra,
  };
}

/** A worker spawn() refused: `code` is its errno name. */
function notStarted(code: string): RunFacts {
  return run({ started: false, pid: null, spawnError: code, outcome: 'not-started', response: null, ms: null });
}

/** Recorded: the healthy flup app of test/fixtures/doctor/hello.fcgi, as root. */
function healthy(extra: Partial<Observation> = {}): Observation {
  return {
    pool: 'app',
    config: '/srv/app/app.yaml',
    path: '/',
    timeoutMs: 10_000,
    command: ['/usr/bin/python3', '/srv/app/app.fcgi'],
    listen: 'unix:/run/fcgid/app.sock',
    user: { user: 'root', uid: 0, gid: 0, gids: [0] },
    cwd: file('/srv/app', { kind: 'dir' }),
    socketFd: 0,
    clearEnv: false,
    kind: 'app',
    scriptFilename: null,
    identityProblems: [],
    program: {
      name: '/usr/bin/python3',
      lookup: 'path',
      searchPath: null,
      resolved: file('/usr/bin/python3.11'),
      inShellPath: null,
      format: 'binary',
      shebang: null,
      interpreter: true,
      looksLike: null,
    },
    script: { arg: '/srv/app/app.fcgi', ...file('/srv/app/app.fcgi') },
    scriptDir: '/srv/app',
    env: { worker: { PATH: '/usr/bin:/bin', PYTHONPATH: FLUP, FCGID_POOL: 'app', FCGID_WORKER: '0' }, shellOnly: ['HOME', 'TERM'], shellPaths: { PATH: '/usr/sbin:/usr/bin:/bin' } },
    run: run(),
    python: null,
    moduleFoundIn: null,
    files: [],
    web: { users: [{ name: 'www-data', from: '/etc/nginx/nginx.conf' }], problems: [] },
    ...extra,
  };
}

const codes = (o: Observation): string[] => diagnose(o).map((d) => d.code);

/** The recorded stderr of test/fixtures/doctor/import-error.fcgi (Flask's guide example). */
const IMPORT_TRACEBACK = `Traceback (most recent call last):
  File "/srv/app/app.fcgi", line 5, in <module>
    from yourapplication import app
ModuleNotFoundError: No module named 'yourapplication'
`;

function exitedWith(stderr: string, extra: Partial<RunFacts> = {}): RunFacts {
  return run({ outcome: 'exited', ms: null, response: null, firstBytes: '', output: { stdout: '', stderr, fcgiStderr: '' }, exit: { code: 1, signal: null, afterMs: 33 }, ...extra });
}

describe('doctor diagnoses', () => {
  it('a healthy worker gets none', () => {
    expect(diagnose(healthy())).toEqual([]);
    // A 404 at the mount is an answer (an app without a / route), not a failure.
    expect(diagnose(healthy({ run: run({ response: { status: 404, statusText: 'NOT FOUND', headers: [], body: '', bodyBytes: 0 } }) }))).toEqual([]);
  });

  it('codes are unique', () => {
    expect(new Set(DIAGNOSIS_CODES).size).toBe(DIAGNOSIS_CODES.length);
  });

  it('import-error: the module, the interpreter, and the ways to make it importable; the exit alone is not said', () => {
    const o = healthy({ run: exitedWith(IMPORT_TRACEBACK), python: { executable: '/usr/bin/python3', path: ['/srv/app', FLUP, '/usr/lib/python3.11'] } });
    const [d, ...rest] = diagnose(o);
    expect(rest).toEqual([]);
    expect(d!.code).toBe('import-error');
    expect(d!.message).toBe("the worker exited (status 1) on an import: ModuleNotFoundError: No module named 'yourapplication' (python: /usr/bin/python3)");
    expect(d!.fix).toContain('install yourapplication for /usr/bin/python3 (/usr/bin/python3 -m pip install yourapplication)');
    expect(d!.fix).toContain('PYTHONPATH under env: of pool app');
    expect(d!.fix).toContain("point command at the virtualenv's python");
  });

  it("import-error names the shell's virtualenv and PYTHONPATH when they are why it worked by hand", () => {
    const o = healthy({ run: exitedWith(IMPORT_TRACEBACK) });
    o.env.shellPaths = { VIRTUAL_ENV: '/srv/app/venv', PYTHONPATH: '/srv/lib' };
    const fix = diagnose(o)[0]!.fix;
    expect(fix).toContain('your shell has the virtualenv /srv/app/venv active: command: [/srv/app/venv/bin/python, …]');
    expect(fix).toContain(`your shell has PYTHONPATH=/srv/lib, the worker PYTHONPATH=${FLUP}`);
  });

  it('import-error: the module is in a directory near the app that sys.path lacks (it worked from there by hand)', () => {
    const o = healthy({ run: exitedWith(IMPORT_TRACEBACK), moduleFoundIn: '/srv' });
    expect(diagnose(o)[0]!.fix).toBe("add /srv to PYTHONPATH under env: of pool app: yourapplication is there, and the worker's sys.path does not have it");
  });

  it('import-error is not said when the worker answered anyway (an optional import)', () => {
    expect(codes(healthy({ run: run({ output: { stdout: '', stderr: "ImportError: No module named 'simplejson'\n", fcgiStderr: '' } }) }))).toEqual([]);
  });

  it('not-executable: spawn EACCES on a script without x, with its interpreter as the other way', () => {
    const o = healthy({
      command: ['/srv/app/app.fcgi'],
      program: {
        ...healthy().program!,
        name: '/srv/app/app.fcgi',
        resolved: file('/srv/app/app.fcgi', { mode: 0o644, executable: false }),
        format: 'shebang',
        interpreter: false,
        shebang: { line: '#!/usr/bin/python3', interpreter: '/usr/bin/python3', arg: null, crlf: false, facts: file('/usr/bin/python3'), env: null, alternative: null },
      },
      script: null,
      run: notStarted('EACCES'),
    });
    expect(diagnose(o)).toEqual([
      {
        code: 'not-executable',
        message: '/srv/app/app.fcgi is not executable for root (mode 0644, owner uid 0)',
        fix: 'chmod +x /srv/app/app.fcgi, or run it through its interpreter: command: [/usr/bin/python3, /srv/app/app.fcgi]',
      },
    ]);
  });

  function scriptRun(shebang: Partial<NonNullable<Observation['program']>['shebang'] & object>, extra: Partial<Observation> = {}): Observation {
    const base = healthy();
    return healthy({
      command: ['/srv/app/app.fcgi'],
      program: {
        ...base.program!,
        name: '/srv/app/app.fcgi',
        resolved: file('/srv/app/app.fcgi'),
        format: 'shebang',
        interpreter: false,
        shebang: { line: '#!/usr/bin/python2.7', interpreter: '/usr/bin/python2.7', arg: null, crlf: false, facts: file('/usr/bin/python2.7', { exists: false, kind: null, readable: false, executable: false }), env: null, alternative: '/usr/bin/python3', ...shebang },
      },
      script: null,
      run: notStarted('ENOENT'),
      ...extra,
    });
  }

  it('bad-shebang: an interpreter that does not exist, with one that does', () => {
    expect(diagnose(scriptRun({}))).toEqual([
      {
        code: 'bad-shebang',
        message: '/srv/app/app.fcgi starts with #!/usr/bin/python2.7, which does not exist',
        fix: 'change its first line to an interpreter that exists (this machine has /usr/bin/python3), or name the interpreter in command: [/usr/bin/python3, /srv/app/app.fcgi]',
      },
    ]);
  });

  it('bad-shebang: Windows line endings', () => {
    const [d] = diagnose(scriptRun({ line: '#!/usr/bin/python3\r', interpreter: '/usr/bin/python3\r', crlf: true, facts: file('/usr/bin/python3') }));
    expect(d!.code).toBe('bad-shebang');
    expect(d!.message).toContain('Windows line endings');
    expect(d!.message).toContain('"/usr/bin/python3\\r"');
    expect(d!.fix).toBe("convert the file to Unix line endings: sed -i 's/\\r$//' /srv/app/app.fcgi (or dos2unix /srv/app/app.fcgi)");
  });

  it("bad-shebang: #!/usr/bin/env NAME with NAME not in the worker's PATH", () => {
    const [d] = diagnose(scriptRun({ line: '#!/usr/bin/env python', interpreter: '/usr/bin/env', arg: 'python', facts: file('/usr/bin/env'), env: { name: 'python', found: null } }));
    expect(d!.code).toBe('bad-shebang');
    expect(d!.message).toBe("/srv/app/app.fcgi starts with #!/usr/bin/env python, and the worker's PATH (/usr/bin:/bin) has no python");
  });

  it('no-shebang: a text file run directly runs under /bin/sh', () => {
    const base = scriptRun({});
    base.program = { ...base.program!, format: 'text', shebang: null, looksLike: '/usr/bin/python3' };
    base.run = exitedWith('/srv/app/app.fcgi: 2: from: not found\n', { exit: { code: 2, signal: null, afterMs: 14 } });
    expect(diagnose(base)).toEqual([
      {
        code: 'no-shebang',
        message: '/srv/app/app.fcgi is a text file without a #! line, so it runs under /bin/sh (it looks written for python3)',
        fix: 'make "#!/usr/bin/python3" its first line, or name the interpreter in command: [/usr/bin/python3, /srv/app/app.fcgi]',
      },
    ]);
  });

  it("not-found: not in the worker's PATH, with where the shell has it", () => {
    const o = healthy({
      command: ['fcgiwrap'],
      program: { ...healthy().program!, name: 'fcgiwrap', lookup: 'search', searchPath: '/usr/bin:/bin', resolved: null, inShellPath: '/usr/sbin/fcgiwrap', interpreter: false },
      script: null,
      run: notStarted('ENOENT'),
    });
    expect(diagnose(o)).toEqual([
      {
        code: 'not-found',
        message: "fcgiwrap is not in the worker's PATH (/usr/bin:/bin); your shell finds it at /usr/sbin/fcgiwrap",
        fix: 'write its full path in command of pool app (/usr/sbin/fcgiwrap), or set PATH under env: to include /usr/sbin',
      },
    ]);
  });

  it('not-found: a script argument that does not exist, relative to cwd', () => {
    const o = healthy({ script: { arg: 'app.fcgi', ...file('/etc/fcgid/app.fcgi', { exists: false, kind: null, mode: null, uid: null, gid: null, readable: false, executable: false }) }, run: exitedWith("/usr/bin/python3: can't open file '/etc/fcgid/app.fcgi': [Errno 2] No such file or directory\n", { exit: { code: 2, signal: null, afterMs: 20 } }) });
    const [d, ...rest] = diagnose(o);
    expect(rest).toEqual([]);
    expect(d).toMatchObject({ code: 'not-found', message: 'the script /etc/fcgid/app.fcgi does not exist (app.fcgi, taken relative to cwd /srv/app)' });
  });

  it('permission-denied: the first directory the worker user cannot enter, checked with its own ids', () => {
    const o = healthy({
      user: { user: 'www-data', uid: 33, gid: 33, gids: [33] },
      script: { arg: '/root/app/app.fcgi', ...file('/root/app/app.fcgi', { blockedAt: { dir: '/root', mode: 0o700, uid: 0 }, readable: false, executable: false }) },
      run: exitedWith("/usr/bin/python3: can't open file '/root/app/app.fcgi': [Errno 13] Permission denied\n", { exit: { code: 2, signal: null, afterMs: 23 } }),
    });
    expect(diagnose(o)).toEqual([
      {
        code: 'permission-denied',
        message: 'www-data cannot enter /root (mode 0700, owner uid 0), on the way to the script /root/app/app.fcgi',
        fix: "chmod o+x /root (or give www-data's group search permission on it), or move the app where www-data can reach it",
      },
    ]);
  });

  it('bad-cwd: missing, or not searchable by the worker user (its group counts)', () => {
    expect(codes(healthy({ cwd: file('/srv/gone', { exists: false, kind: null, mode: null, uid: null, gid: null }), run: notStarted('ENOENT') }))).toEqual(['bad-cwd']);
    const www = { user: 'www-data', uid: 33, gid: 33, gids: [33] };
    expect(codes(healthy({ user: www, cwd: file('/srv/app', { kind: 'dir', mode: 0o700 }) }))).toEqual(['bad-cwd']);
    expect(codes(healthy({ user: www, cwd: file('/srv/app', { kind: 'dir', mode: 0o750, gid: 33 }) }))).toEqual([]);
    // A directory above it does not matter: fcgid enters the cwd as root.
    expect(codes(healthy({ user: www, cwd: file('/srv/app', { kind: 'dir', blockedAt: { dir: '/srv', mode: 0o700, uid: 0 } }) }))).toEqual([]);
  });

  it('relative-path: a failed relative open of a file that is in the script directory', () => {
    const stderr = "Traceback (most recent call last):\n  File \"/srv/app/app.fcgi\", line 7, in <module>\n    with open(\"data.txt\") as f:\nFileNotFoundError: [Errno 2] No such file or directory: 'data.txt'\n";
    const o = healthy({ cwd: file('/etc/fcgid', { kind: 'dir' }), run: exitedWith(stderr), files: [{ name: 'data.txt', inCwd: false, inScriptDir: true }] });
    expect(diagnose(o)).toEqual([
      {
        code: 'relative-path',
        message: `the app could not open "data.txt" relative to its cwd /etc/fcgid; it is in the script's directory /srv/app`,
        fix: "set cwd: /srv/app in pool app, or open it by an absolute path built from the script's own location",
      },
    ]);
    // Missing everywhere: not about the working directory; the exit is what is left to say.
    expect(codes({ ...o, files: [{ name: 'data.txt', inCwd: false, inScriptDir: false }] })).toEqual(['exited']);
  });

  it('env-missing: a variable the failure names that the shell has and the worker lacks', () => {
    const stderr = 'Traceback (most recent call last):\n  File "/srv/app/app.fcgi", line 10, in <module>\n    app.config["SECRET_KEY"] = os.environ["DOCTOR_SECRET_KEY"]\nKeyError: \'DOCTOR_SECRET_KEY\'\n';
    const o = healthy({ clearEnv: true, run: exitedWith(stderr) });
    o.env.shellOnly = ['DOCTOR_SECRET_KEY', 'HOME'];
    expect(diagnose(o)).toEqual([
      {
        code: 'env-missing',
        message: 'the app needs DOCTOR_SECRET_KEY (its output names it), which your shell has and the worker does not (clear_env: true keeps only env: and pass_env:)',
        fix: "add DOCTOR_SECRET_KEY to pass_env: of pool app (it then gets fcgid's own value: under systemd, set it in the unit), or set it under env:",
      },
    ]);
    // One the shell lacks too is not why it "worked by hand".
    o.env.shellOnly = ['HOME'];
    expect(codes(o)).toEqual(['exited']);
  });

  it('env-missing from PHP and from a message, on a 500', () => {
    const o = healthy({ kind: 'php', run: run({ response: { status: 500, statusText: 'Internal Server Error', headers: [], body: '', bodyBytes: 0 }, output: { stdout: '', stderr: '', fcgiStderr: 'PHP Fatal error:  Uncaught Exception: DB_PASSWORD is not set in /var/www/html/index.php:3\n' } }) });
    o.env.shellOnly = ['DB_PASSWORD'];
    expect(codes(o)).toEqual(['env-missing']);
  });

  it('speaks-cgi: a CGI header on stdout and an exit, with the fcgiwrap lines', () => {
    const o = healthy({
      command: ['/srv/cgi/hello.sh'],
      program: { ...healthy().program!, name: '/srv/cgi/hello.sh', resolved: file('/srv/cgi/hello.sh'), format: 'shebang', interpreter: false, shebang: { line: '#!/bin/sh', interpreter: '/bin/sh', arg: null, crlf: false, facts: file('/bin/sh'), env: null, alternative: null } },
      script: null,
      scriptDir: '/srv/cgi',
      run: exitedWith('', { output: { stdout: 'Content-Type: text/plain\n\nhello from CGI\n', stderr: '', fcgiStderr: '' }, exit: { code: 0, signal: null, afterMs: 14 } }),
    });
    expect(diagnose(o)).toEqual([
      {
        code: 'speaks-cgi',
        message: '/srv/cgi/hello.sh printed a CGI response on its stdout ("Content-Type: text/plain") and exited: it is a CGI program, not a FastCGI server',
        fix: "run it through fcgiwrap: command: [/usr/sbin/fcgiwrap] with web: { kind: cgi, root: /srv/cgi, mount: /cgi-bin } in pool app; /cgi-bin/hello.sh then runs it (fcgid web-config prints the web server's side)",
      },
    ]);
  });

  it('binds-own-socket: flup bindAddress, and php-cgi -b with its own fix', () => {
    const own = run({ outcome: 'own-socket', response: null, ms: null, ownListeners: ['unix:/tmp/app.sock'] });
    const [flup] = diagnose(healthy({ run: own }));
    expect(flup!.code).toBe('binds-own-socket');
    expect(flup!.message).toBe('the worker listens on a socket of its own (unix:/tmp/app.sock) instead of accepting on the one fcgid hands it on fd 0');
    expect(flup!.fix).toContain('remove bindAddress=');
    const php = diagnose(healthy({ command: ['php-cgi', '-b', '127.0.0.1:9000'], program: null, script: null, run: { ...own, ownListeners: ['tcp://127.0.0.1:9000'] } }));
    expect(php.map((d) => d.fix)).toEqual(['remove "-b 127.0.0.1:9000" from command of pool app: php-cgi then accepts on fd 0']);
    // A worker that answers on its socket may listen elsewhere too (a metrics port).
    expect(codes(healthy({ run: run({ ownListeners: ['tcp://127.0.0.1:9102'] }) }))).toEqual([]);
  });

  it('regression: a request the worker refused (FCGI_END_REQUEST with FCGI_OVERLOADED) matched no rule, and the doctor said healthy with exit 0; now no-answer, with the error', () => {
    const refused = healthy({ run: run({ outcome: 'failed', response: null, ms: null, error: { code: 'FCGI_REJECTED', message: 'the application refused the request: FCGI_OVERLOADED' } }) });
    expect(diagnose(refused)).toEqual([
      {
        code: 'no-answer',
        message: 'the worker did not answer the request (FCGI_REJECTED: the application refused the request: FCGI_OVERLOADED)',
        fix: 'see its output above; fcgictl request against a running pool shows the same exchange',
      },
    ]);
    // Not said beside a rule that explains it.
    expect(codes(healthy({ run: run({ outcome: 'failed', response: null, ms: null, error: { code: 'FCGI_CONNECTION_CLOSED', message: 'closed' } }) }))).toEqual(['closes-connection']);
  });

  it('closes-connection, not-fastcgi (garbage, or uWSGI without --protocol=fastcgi), bad-headers: the FastCGI client errors', () => {
    const closed = run({ outcome: 'failed', response: null, ms: null, error: { code: 'FCGI_CONNECTION_CLOSED', message: 'closed the connection before ending the request' } });
    expect(codes(healthy({ run: closed }))).toEqual(['closes-connection']);
    const garbage = healthy({ run: { ...closed, error: { code: 'FCGI_BAD_VERSION', message: 'record version 72, expected 1' } } });
    expect(codes(garbage)).toEqual(['not-fastcgi']);
    // Recorded: uWSGI 2.0.21 without --protocol=fastcgi logs this and closes.
    const uwsgi = healthy({ command: ['uwsgi', '--plugin=python3', '--wsgi-file=app.py'], program: null, script: null, run: { ...closed, output: { stdout: '', stderr: '-- unavailable modifier requested: 1 --\n', fcgiStderr: '' } } });
    expect(diagnose(uwsgi)).toEqual([
      {
        code: 'not-fastcgi',
        message: 'uWSGI read the FastCGI request as its own uwsgi protocol and dropped it (its log: "unavailable modifier requested: 1")',
        fix: 'add --protocol=fastcgi to command of pool app (or protocol = fastcgi in its ini file)',
      },
    ]);
    expect(codes({ ...uwsgi, command: ['uwsgi', '--protocol=fastcgi', '--wsgi-file=app.py'] })).toEqual(['closes-connection']);
    const head = healthy({ run: { ...closed, error: { code: 'FCGI_BAD_RESPONSE_HEAD', message: 'malformed CGI header line "starting up": expected "Name: value"' }, firstBytes: 'starting up\r\nContent-Type: text/plain\r\n\r\nhello\n' } });
    const [d] = diagnose(head);
    expect(d!.code).toBe('bad-headers');
    expect(d!.message).toContain('its first bytes: "starting up\\r\\nContent-Type: text/plain\\r\\n\\r\\nhello\\n"');
  });

  it('no-input-file: php-cgi without the script', () => {
    const o = healthy({ kind: 'php', command: ['php-cgi'], program: null, script: null, scriptFilename: '/srv/www/index.php', run: run({ response: { status: 404, statusText: 'Not Found', headers: [], body: 'No input file specified.\n', bodyBytes: 25 } }) });
    expect(diagnose(o)[0]).toMatchObject({ code: 'no-input-file', message: 'php-cgi found no script at SCRIPT_FILENAME /srv/www/index.php ("No input file specified.")' });
  });

  it('error-status, exited and no-answer when nothing more precise is known', () => {
    const fatal = run({ response: { status: 500, statusText: 'Internal Server Error', headers: [], body: '', bodyBytes: 0 }, output: { stdout: '', stderr: '', fcgiStderr: 'PHP Fatal error:  Uncaught Error: Call to undefined function f()\n' } });
    expect(diagnose(healthy({ run: fatal }))[0]).toMatchObject({ code: 'error-status', message: 'the app answered 500 Internal Server Error; its error output ends: PHP Fatal error:  Uncaught Error: Call to undefined function f()' });
    expect(codes(healthy({ run: exitedWith('Segmentation fault\n', { exit: { code: null, signal: 'SIGSEGV', afterMs: 40 } }) }))).toEqual(['exited']);
    const www = { user: 'www-data', uid: 33, gid: 33, gids: [33] };
    const byHand = diagnose(healthy({ user: www, command: ['/bin/sh', '-c', "exec app --name 'x y'"], run: exitedWith('') }))[0]!.fix;
    expect(byHand).toContain(`cd /srv/app && sudo -u www-data /bin/sh -c 'exec app --name '\\''x y'\\'''`);
    expect(codes(healthy({ run: run({ outcome: 'timeout', response: null, ms: null }) }))).toEqual(['no-answer']);
  });

  it('identity problems: no-such-user and no-such-group with the fix from fcgid check', () => {
    const o = healthy({
      run: null,
      identityProblems: [noSuch('pools.app.user', 'user', 'deploy'), noSuch('pools.app.socket_group', 'group', 'web')],
    });
    expect(diagnose(o)).toEqual([
      { code: 'no-such-user', message: 'pools.app.user: no such user "deploy"', fix: 'create it or fix the name (getent passwd / getent group list what exists)' },
      { code: 'no-such-group', message: 'pools.app.socket_group: no such group "web"', fix: 'create it or fix the name (getent passwd / getent group list what exists)' },
    ]);
  });

  it('socket-unreachable: each of socketReach\'s problems, what and fix, beside the worker\'s own findings', () => {
    const o = healthy({
      web: {
        users: [{ name: 'www-data', from: '/etc/nginx/nginx.conf' }],
        problems: [
          {
            what: 'www-data cannot connect to /run/fcgid/app.sock (owner root, group root, mode 0755, from the umask): it needs write permission',
            fix: 'set socket_group: www-data and socket_mode: "0660" in pool app (or socket_owner: www-data)',
          },
          {
            what: 'www-data cannot enter /root (mode 0700, owner uid 0), on the way to /root/app.sock',
            fix: 'chmod o+x /root, or move the socket (listen) to a directory it can enter, like /run/fcgid',
          },
        ],
      },
    });
    expect(diagnose(o)).toEqual([
      {
        code: 'socket-unreachable',
        message: 'www-data cannot connect to /run/fcgid/app.sock (owner root, group root, mode 0755, from the umask): it needs write permission',
        fix: 'set socket_group: www-data and socket_mode: "0660" in pool app (or socket_owner: www-data)',
      },
      {
        code: 'socket-unreachable',
        message: 'www-data cannot enter /root (mode 0700, owner uid 0), on the way to /root/app.sock',
        fix: 'chmod o+x /root, or move the socket (listen) to a directory it can enter, like /run/fcgid',
      },
    ]);
    // It does not explain a worker's failure: the exit is still said.
    expect(codes({ ...o, run: exitedWith('boom\n') })).toEqual(['exited', 'socket-unreachable', 'socket-unreachable']);
  });

  it('every diagnosis is one line', () => {
    const long = 'x'.repeat(100_000);
    const o = healthy({ run: exitedWith(`${long}\nKeyError: 'A'\nModuleNotFoundError: No module named '${long}'\n`) });
    for (const d of diagnose(o)) expect(`${d.message} ${d.fix}`).not.toContain('\n');
  });
});

describe('the report', () => {
  it("shows the worker's control characters as \\xNN: its escape sequences and carriage returns do not reach the operator's terminal", () => {
    const o = healthy({ run: exitedWith('\x1b[2J\x1b[31mrewritten\rfake: all is well\x9b\n') });
    const out = text(o, diagnose(o));
    expect(out).toContain('\\x1b[2J\\x1b[31mrewritten\\x0dfake: all is well\\x9b');
    expect(out).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
  });
});
