// `fcgid doctor` on the real binary: for each way a FastCGI deployment breaks
// (the list Flask's FastCGI guide ends with, and the ones fcgid users meet),
// a broken app from test/fixtures/doctor/ copied into a scratch dir with the
// mode the case needs, and the diagnosis code and fix the doctor gives; a
// healthy flup app and a healthy php-cgi pool get none. Every run must leave
// no process behind (the worker pid it reports is gone) and must not touch a
// running fcgid on the same config.

import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DoctorDocument } from '../../src/doctor/report.js';
import { unixRows } from '../../src/host/procnet.js';
import { FCGID_BIN, Fcgid, childPids, isRunning, registryFile, tearDown, unixListenerInode, writeConfig } from '../helpers/daemon.js';
import { FLUP, Processes, Scratch, missingFlask, missingFlup, missingPeers, poll, runToEnd } from '../helpers/peers.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/doctor/', import.meta.url));
const noFlup = missingFlup();
const noPhp = missingPeers('php-cgi');
const noFcgiwrap = missingPeers('fcgiwrap');
const FLUP_ENV = { PYTHONPATH: FLUP, PYTHONDONTWRITEBYTECODE: '1' };

const processes = new Processes();
const daemons: Fcgid[] = [];
let scratch: Scratch;

beforeAll(() => {
  scratch = new Scratch('fcgid-doctor-test-');
  // www-data must reach the sockets of every case but the one about that.
  chmodSync(scratch.dir, 0o755);
});

afterAll(() => tearDown(processes, scratch, daemons));

/** A fixture copied into `dir` of the scratch dir (git keeps no modes worth trusting), with `mode`. */
function install(fixture: string, mode = 0o755, dir = 'apps', as = fixture): string {
  mkdirSync(scratch.path(dir), { recursive: true, mode: 0o755 });
  const to = scratch.path(dir, as);
  copyFileSync(join(FIXTURES, fixture), to);
  chmodSync(to, mode);
  return to;
}

let cases = 0;
/** A config with one pool `app` on a socket www-data may use, written into the scratch dir. */
function config(pool: Record<string, unknown>): string {
  const name = `case${++cases}`;
  return writeConfig(scratch, name, { pools: { app: { listen: `unix:${scratch.path(`${name}.sock`)}`, socket_mode: '0666', ...pool } } });
}

interface Doctored {
  status: number | string;
  doc: DoctorDocument;
  stdout: string;
  stderr: string;
}

/** `fcgid doctor --json`; checks that the worker it ran is gone once it returns. */
async function doctor(configFile: string, args: string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<Doctored> {
  const r = await runToEnd(processes, process.execPath, [FCGID_BIN, 'doctor', '-c', configFile, '--json', ...args], { env });
  let doc: DoctorDocument;
  try {
    doc = JSON.parse(r.stdout) as DoctorDocument;
  } catch {
    throw new Error(`fcgid doctor printed no JSON (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  if (doc.pid !== null) expect(isRunning(doc.pid), `worker pid ${doc.pid} left running`).toBe(false);
  return { ...r, doc };
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return ''; // gone meanwhile (the listen helper exits at once)
  }
}

const codes = (doc: DoctorDocument): string[] => doc.diagnoses.map((d) => d.code);
const fixOf = (doc: DoctorDocument, code: string): string => doc.diagnoses.find((d) => d.code === code)?.fix ?? '';

describe.skipIf(noFlup)('fcgid doctor: Flask under flup', () => {
  it('a healthy app gets no diagnosis and exit 0', async () => {
    const app = install('hello.fcgi');
    const { status, doc } = await doctor(config({ command: ['/usr/bin/python3', app], env: FLUP_ENV }));
    expect(doc.diagnoses).toEqual([]);
    expect(status).toBe(0);
    expect(doc.started).toBe(true);
    expect(doc.response?.status).toBe(200);
    expect(doc.response?.body).toContain("hello from the doctor's patient");
    expect(doc.env.worker).toMatchObject({ FCGID_POOL: 'app', FCGID_WORKER: '0', PYTHONPATH: FLUP });
  });

  it('an ImportError: the traceback, the interpreter and sys.path the worker used (the Flask guide example)', async () => {
    const app = install('import-error.fcgi', 0o755, 'guide', 'app.fcgi');
    const file = config({ command: ['/usr/bin/python3', app], env: FLUP_ENV });
    const { status, doc } = await doctor(file);
    expect(status).toBe(1);
    expect(codes(doc)).toEqual(['import-error']);
    expect(doc.diagnoses[0]!.message).toContain("No module named 'yourapplication'");
    expect(fixOf(doc, 'import-error')).toContain('install yourapplication for /usr/bin/python3');
    expect(fixOf(doc, 'import-error')).toContain('PYTHONPATH');
    expect(doc.output.stderr).toContain('Traceback (most recent call last)');
    expect(doc.exit?.code).toBe(1);
    expect(doc.python).toMatchObject({ executable: '/usr/bin/python3' });
    expect((doc.python as { path: string[] }).path.slice(0, 2)).toEqual([scratch.path('guide'), FLUP]);
    // The same as the report people read.
    const text = await runToEnd(processes, process.execPath, [FCGID_BIN, 'doctor', '-c', file]);
    expect(text.status).toBe(1);
    expect(text.stdout).toMatch(/^diagnosis: import-error: .*No module named 'yourapplication'.* — fix: install yourapplication/m);
    expect(text.stdout).toContain('    ModuleNotFoundError: No module named');
  });

  it('an ImportError of a package one directory up: its fix names that directory, and applying it makes the app healthy', async () => {
    mkdirSync(scratch.path('proj', 'yourapplication'), { recursive: true, mode: 0o755 });
    install('yourapplication/__init__.py', 0o644, 'proj/yourapplication', '__init__.py');
    const app = install('import-error.fcgi', 0o755, 'proj/bin', 'app.fcgi');
    const broken = await doctor(config({ command: ['/usr/bin/python3', app], env: FLUP_ENV }));
    expect(codes(broken.doc)).toEqual(['import-error']);
    expect(fixOf(broken.doc, 'import-error')).toBe(`add ${scratch.path('proj')} to PYTHONPATH under env: of pool app: yourapplication is there, and the worker's sys.path does not have it`);
    const fixed = await doctor(config({ command: ['/usr/bin/python3', app], env: { ...FLUP_ENV, PYTHONPATH: `${FLUP}:${scratch.path('proj')}` } }));
    expect(fixed.doc.diagnoses).toEqual([]);
    expect(fixed.doc.response?.body).toBe('yourapplication\n');
  });

  it('a script without its exec bit: not-executable, naming the file and the interpreter to use', async () => {
    const app = install('hello.fcgi', 0o644, 'apps', 'noexec.fcgi');
    const { status, doc } = await doctor(config({ command: [app], env: FLUP_ENV }));
    expect(status).toBe(1);
    expect(codes(doc)).toEqual(['not-executable']);
    expect(doc.started).toBe(false);
    expect(doc.spawn_error).toBe('EACCES');
    expect(doc.diagnoses[0]!.message).toContain(`${app} is not executable for root (mode 0644`);
    expect(fixOf(doc, 'not-executable')).toBe(`chmod +x ${app}, or run it through its interpreter: command: [/usr/bin/python3, ${app}]`);
  });

  it('a #! naming an interpreter that does not exist: bad-shebang, with one that does', async () => {
    const app = install('bad-shebang.fcgi');
    const { status, doc } = await doctor(config({ command: [app], env: FLUP_ENV }));
    expect(status).toBe(1);
    expect(codes(doc)).toEqual(['bad-shebang']);
    expect(doc.diagnoses[0]!.message).toBe(`${app} starts with #!/usr/bin/python2.7, which does not exist`);
    expect(fixOf(doc, 'bad-shebang')).toContain('(this machine has /usr/bin/python3)');
  });

  it('no #! at all: no-shebang (/bin/sh runs the Python)', async () => {
    const app = install('no-shebang.fcgi');
    const { status, doc } = await doctor(config({ command: [app], env: FLUP_ENV }));
    expect(status).toBe(1);
    expect(codes(doc)).toEqual(['no-shebang']);
    expect(doc.diagnoses[0]!.message).toContain('runs under /bin/sh (it looks written for python3)');
    expect(fixOf(doc, 'no-shebang')).toContain('make "#!/usr/bin/python3" its first line');
  });

  it('a directory on the way the worker user cannot enter: permission-denied, naming it', async () => {
    mkdirSync(scratch.path('locked'), { mode: 0o700 });
    chmodSync(scratch.path('locked'), 0o700);
    const app = install('hello.fcgi', 0o755, 'locked');
    const { status, doc } = await doctor(config({ command: ['/usr/bin/python3', app], env: FLUP_ENV, user: 'www-data' }));
    expect(status).toBe(1);
    expect(codes(doc)).toEqual(['permission-denied']);
    expect(doc.user).toBe('www-data');
    expect(doc.output.stderr).toContain('Permission denied');
    expect(doc.diagnoses[0]!.message).toBe(`www-data cannot enter ${scratch.path('locked')} (mode 0700, owner uid 0), on the way to the script ${app}`);
    expect(fixOf(doc, 'permission-denied')).toContain(`chmod o+x ${scratch.path('locked')}`);
  });

  it('a cwd that does not exist: bad-cwd', async () => {
    const app = install('hello.fcgi');
    const { status, doc } = await doctor(config({ command: [app], env: FLUP_ENV, cwd: scratch.path('no-such-dir') }));
    expect(status).toBe(1);
    expect(codes(doc)).toEqual(['bad-cwd']);
    expect(doc.started).toBe(false);
  });

  it('WSGIServer(app, bindAddress=...): binds-own-socket, naming the socket it holds', async () => {
    const app = install('bind.fcgi');
    const bound = scratch.path('bound-by-the-app.sock');
    const { status, doc } = await doctor(config({ command: [app], env: { ...FLUP_ENV, DOCTOR_BIND: bound } }));
    expect(status).toBe(1);
    expect(codes(doc)).toEqual(['binds-own-socket']);
    expect(doc.own_listeners).toEqual([`unix:${bound}`]);
    expect(fixOf(doc, 'binds-own-socket')).toContain('remove bindAddress=');
  });

  it('a relative path that exists beside the script: relative-path, fix cwd', async () => {
    install('data.txt', 0o644, 'rel');
    const app = install('relative.fcgi', 0o755, 'rel');
    // cwd defaults to the config's directory (the scratch dir), not the script's.
    const { status, doc } = await doctor(config({ command: ['/usr/bin/python3', app], env: FLUP_ENV }));
    expect(status).toBe(1);
    expect(codes(doc)).toEqual(['relative-path']);
    expect(doc.diagnoses[0]!.message).toBe(`the app could not open "data.txt" relative to its cwd ${scratch.dir}; it is in the script's directory ${scratch.path('rel')}`);
    expect(fixOf(doc, 'relative-path')).toContain(`set cwd: ${scratch.path('rel')} in pool app`);
  });

  it('a variable the shell has and the worker does not: env-missing, fix pass_env', async () => {
    const app = install('needs-env.fcgi');
    const file = config({ command: [app], env: FLUP_ENV, clear_env: true, pass_env: ['PATH'] });
    // It works by hand: this shell has the variable.
    const { status, doc } = await doctor(file, [], { ...process.env, DOCTOR_SECRET_KEY: 'by-hand' });
    expect(status).toBe(1);
    expect(codes(doc)).toEqual(['env-missing']);
    expect(doc.diagnoses[0]!.message).toContain('the app needs DOCTOR_SECRET_KEY');
    expect(fixOf(doc, 'env-missing')).toContain('add DOCTOR_SECRET_KEY to pass_env: of pool app');
    expect(doc.env.shell_only).toContain('DOCTOR_SECRET_KEY');
    expect(doc.env.worker.DOCTOR_SECRET_KEY).toBeUndefined();
    // The value is never printed.
    expect(JSON.stringify(doc)).not.toContain('by-hand');
  });

  it('a socket in a directory www-data cannot enter: socket-unreachable, though the app answers', async () => {
    const app = install('hello.fcgi');
    mkdirSync(scratch.path('private'), { mode: 0o700 });
    chmodSync(scratch.path('private'), 0o700);
    const file = writeConfig(scratch, 'unreachable', { pools: { app: { command: ['/usr/bin/python3', app], env: FLUP_ENV, listen: `unix:${scratch.path('private', 'app.sock')}`, socket_mode: '0666' } } });
    const { status, doc } = await doctor(file, ['--web-user', 'www-data']);
    expect(status).toBe(1);
    expect(doc.response?.status).toBe(200);
    expect(codes(doc)).toEqual(['socket-unreachable']);
    expect(doc.diagnoses[0]!.message).toContain(`www-data cannot enter ${scratch.path('private')} (mode 0700`);
    expect(fixOf(doc, 'socket-unreachable')).toContain(`chmod o+x ${scratch.path('private')}`);
  });

  it('user and group that do not exist: no-such-user, no-such-group, and no worker is run', async () => {
    const app = install('hello.fcgi');
    const { status, doc } = await doctor(config({ command: [app], env: FLUP_ENV, user: 'fcgid-doctor-nobody', group: 'fcgid-doctor-nogroup' }));
    expect(status).toBe(1);
    expect(codes(doc).sort()).toEqual(['no-such-group', 'no-such-user']);
    expect(doc.diagnoses.find((d) => d.code === 'no-such-user')!.message).toBe('pools.app.user: no such user "fcgid-doctor-nobody"');
    expect(doc.started).toBe(false);
    expect(doc.pid).toBeNull();
  });

  it('socket_owner and socket_group that do not exist: diagnosed, while the worker still runs', async () => {
    const app = install('hello.fcgi');
    const { status, doc } = await doctor(config({ command: [app], env: FLUP_ENV, socket_owner: 'fcgid-doctor-nobody', socket_group: 'fcgid-doctor-nogroup' }));
    expect(status).toBe(1);
    expect(codes(doc)).toEqual(expect.arrayContaining(['no-such-user', 'no-such-group']));
    expect(fixOf(doc, 'no-such-group')).toContain('create it or fix the name');
    expect(doc.response?.status).toBe(200);
  });

  it('a running fcgid on the same config is not touched: same socket inode, same workers, same registry', async () => {
    const app = install('hello.fcgi');
    const sock = scratch.path('running.sock');
    const file = writeConfig(scratch, 'running', { pools: { app: { command: ['/usr/bin/python3', app], env: FLUP_ENV, listen: `unix:${sock}`, socket_mode: '0666', workers: 2, start_secs: '300ms' } } });
    const fcgid = new Fcgid(processes, file);
    daemons.push(fcgid);
    const pids = (await fcgid.waitForRunning('app', 2)).sort();
    const inode = unixListenerInode(sock);
    const registry = readFileSync(registryFile(scratch, 'running'), 'utf8');
    expect(inode).not.toBeNull();

    const { status, doc } = await doctor(file);
    expect(status).toBe(0);
    expect(doc.diagnoses).toEqual([]);
    expect(pids).not.toContain(doc.pid);

    expect(unixListenerInode(sock)).toBe(inode);
    expect(fcgid.runningPids('app').sort()).toEqual(pids);
    for (const pid of pids) expect(isRunning(pid)).toBe(true);
    expect(readFileSync(registryFile(scratch, 'running'), 'utf8')).toBe(registry);
  });
});

describe('fcgid doctor: programs that are not FastCGI servers', () => {
  it('a plain CGI script: speaks-cgi, with the fcgiwrap lines', async () => {
    const script = install('cgi.sh');
    const { status, doc } = await doctor(config({ command: [script] }));
    expect(status).toBe(1);
    expect(codes(doc)).toEqual(['speaks-cgi']);
    expect(doc.output.stdout).toContain('Content-Type: text/plain');
    expect(doc.exit?.code).toBe(0);
    expect(fixOf(doc, 'speaks-cgi')).toContain(`command: [/usr/sbin/fcgiwrap] with web: { kind: cgi, root: ${scratch.path('apps')}, mount: /cgi-bin }`);
  });

  it.skipIf(missingPeers('/usr/bin/python3'))('a program that accepts and closes without answering: closes-connection', async () => {
    const script = install('closes.py', 0o644);
    const { status, doc } = await doctor(config({ command: ['/usr/bin/python3', script] }));
    expect(status).toBe(1);
    expect(codes(doc)).toEqual(['closes-connection']);
    expect(doc.error?.code).toBe('FCGI_CONNECTION_CLOSED');
  });

  it.skipIf(noFcgiwrap)("a program the worker's PATH does not have: not-found, with where the shell finds it", async () => {
    const { status, doc } = await doctor(config({ command: ['fcgiwrap'], clear_env: true, env: { PATH: '/usr/bin:/bin' } }), [], { ...process.env, PATH: `/usr/sbin:${process.env.PATH}` });
    expect(status).toBe(1);
    expect(codes(doc)).toEqual(['not-found']);
    expect(doc.diagnoses[0]!.message).toBe("fcgiwrap is not in the worker's PATH (/usr/bin:/bin); your shell finds it at /usr/sbin/fcgiwrap");
    expect(fixOf(doc, 'not-found')).toContain('(/usr/sbin/fcgiwrap)');
  });

  it.skipIf(noFcgiwrap)('a CGI script that prints before its headers, under fcgiwrap: bad-headers with the first bytes', async () => {
    install('early-output.sh', 0o755, 'cgi-bin');
    const file = config({ command: ['fcgiwrap'], web: { mount: '/cgi-bin', root: scratch.path('cgi-bin') } });
    const { status, doc } = await doctor(file, ['/cgi-bin/early-output.sh']);
    expect(status).toBe(1);
    expect(codes(doc)).toEqual(['bad-headers']);
    expect(doc.diagnoses[0]!.message).toContain('malformed CGI header line "starting up"');
    expect(doc.diagnoses[0]!.message).toContain('"starting up\\r\\nContent-Type: text/plain');
    expect(fixOf(doc, 'bad-headers')).toContain('print nothing to stdout before the headers');
  });
});

describe('fcgid doctor: uWSGI', () => {
  it.skipIf(missingFlask())('without --protocol=fastcgi: not-fastcgi, fix --protocol=fastcgi', async () => {
    const app = fileURLToPath(new URL('../fixtures/flask/app.py', import.meta.url));
    const { status, doc } = await doctor(config({ command: ['uwsgi', '--plugin=python3', `--wsgi-file=${app}`, '--callable=app', '--need-app', '--disable-logging'] }));
    expect(status).toBe(1);
    expect(codes(doc)).toEqual(['not-fastcgi']);
    expect(fixOf(doc, 'not-fastcgi')).toContain('add --protocol=fastcgi');
  });
});

describe('fcgid doctor: its own end', () => {
  it('SIGTERM to the doctor: the worker is killed, the private socket dir removed, exit 143', async () => {
    const file = config({ command: ['/bin/sleep', '300'] });
    const p = processes.start(process.execPath, [FCGID_BIN, 'doctor', '-c', file, '--timeout', '60s']);
    const worker = await poll('the worker sleeping', () => childPids(p.pid).find((c) => cmdline(c).startsWith('/bin/sleep')));
    // Its fd 0 is the private socket: the doctor's temp dir is the one it is bound in.
    const inode = Number(/socket:\[(\d+)\]/.exec(readlinkSync(`/proc/${worker}/fd/0`))![1]);
    const dir = dirname(unixRows().find((r) => r.inode === inode)!.path!);
    expect(existsSync(dir)).toBe(true);
    expect(dir).not.toBe(scratch.dir);
    process.kill(p.pid, 'SIGTERM');
    expect(await p.exited).toBe(143);
    // SIGKILL was sent before the doctor exited; the kernel ends the process on its own time.
    await poll(`worker ${worker} gone`, () => !isRunning(worker));
    expect(existsSync(dir)).toBe(false);
  });
});

describe.skipIf(noPhp)('fcgid doctor: php-cgi', () => {
  it('a healthy php-cgi pool gets no diagnosis and exit 0', async () => {
    install('index.php', 0o644, 'www');
    const { status, doc } = await doctor(config({ command: ['php-cgi'], env: { PHP_FCGI_CHILDREN: '0' }, web: { root: scratch.path('www') } }));
    expect(doc.diagnoses).toEqual([]);
    expect(status).toBe(0);
    expect(doc.response?.status).toBe(200);
    expect(doc.response?.body).toBe('hello from php-cgi\n');
  });

  it('web.root without the script: no-input-file, naming SCRIPT_FILENAME', async () => {
    mkdirSync(scratch.path('empty-root'), { mode: 0o755 });
    const { status, doc } = await doctor(config({ command: ['php-cgi'], env: { PHP_FCGI_CHILDREN: '0' }, web: { root: scratch.path('empty-root') } }));
    expect(status).toBe(1);
    expect(codes(doc)).toEqual(['no-input-file']);
    expect(doc.diagnoses[0]!.message).toContain(`SCRIPT_FILENAME ${scratch.path('empty-root', 'index.php')}`);
  });
});

describe('fcgid doctor: usage', () => {
  it('exit 2 for a config error, an unknown pool, a bad --timeout, path or --web-user; one line, no stack trace', async () => {
    const file = config({ command: ['/bin/true'] });
    const bad = writeConfig(scratch, 'broken', { pools: { app: { command: ['/bin/true'], listen: 'unix:/tmp/x.sock', workrs: 2 } } });
    for (const args of [['-c', bad], ['-c', file, 'nopool'], ['-c', file, '--timeout', 'soon'], ['-c', file, 'app', 'no-slash'], ['-c', file, '--web-user', 'fcgid-doctor-nobody'], ['-c', scratch.path('missing.yaml')]]) {
      const r = await runToEnd(processes, process.execPath, [FCGID_BIN, 'doctor', ...args]);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });
});
