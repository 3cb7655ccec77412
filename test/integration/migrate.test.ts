// `fcgid import` as an operator runs it: the built bin/fcgid on each fixture
// of test/fixtures/migrate/, `fcgid check -c` on what it wrote, and the
// converted configs of every format started with the real daemon
// (listen addresses moved into a scratch dir, nothing else changed but what
// this machine lacks), answering through `fcgictl request`. Also the command
// line's contract: stdin, -o and --force, and exit 2 with one line for input
// it cannot read.

import { chmodSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDocument, type Document } from 'yaml';
import { fcgictl } from '../helpers/control.js';
import { FCGID_BIN, Fcgid, tearDown } from '../helpers/daemon.js';
import { FLUP, Processes, Scratch, freePort, missingFlup, missingPeers, runToEnd, type Ran } from '../helpers/peers.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/migrate/', import.meta.url));
const PID_PHP = fileURLToPath(new URL('../fixtures/daemon/pid.php', import.meta.url));
const ROOT = process.getuid?.() === 0;

const ALL: Array<[string, string[]]> = [
  ['supervisord/flask.conf', ['flask', 'api']],
  ['php-fpm/www.conf', ['www', 'api']],
  ['spawn-fcgi/php-fcgi.service', ['php']],
  ['spawn-fcgi/flask.init', ['app']],
  ['lighttpd/lighttpd.conf', ['php', 'app']],
  ['apache/flask-fastcgi.conf', ['app']],
  ['apache/mod-fcgid.conf', ['php', 'app']],
];

const fcgid = (processes: Processes, args: string[], input?: string): Promise<Ran> =>
  runToEnd(processes, process.execPath, [FCGID_BIN, ...args], input === undefined ? {} : { input });

/** Never a stack trace on stderr, whatever went wrong. */
const noStack = (r: Ran): void => expect(r.stderr).not.toMatch(/^\s+at /m);

describe('fcgid import, then fcgid check', () => {
  const processes = new Processes();
  let scratch: Scratch;

  beforeAll(() => {
    scratch = new Scratch('fcgid-import-');
  });

  afterAll(async () => {
    await processes.killAll();
    scratch.remove();
  });

  it.each(ALL)('%s: imported with -o, and fcgid check passes on the output', async (name, pools) => {
    const out = scratch.path(`${name.replace(/\W/g, '-')}.yaml`);
    const r = await fcgid(processes, ['import', `${FIXTURES}${name}`, '-o', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`fcgid: imported ${pools.length} pool${pools.length === 1 ? '' : 's'} (${pools.join(', ')}) from ${name.split('/')[1]}`);
    expect(r.stderr).not.toContain('does not pass fcgid check');
    const check = await fcgid(processes, ['check', '-c', out]);
    expect(check.status, check.stderr).toBe(0);
    expect(Object.keys((parseDocument(check.stdout).toJS() as { pools: object }).pools)).toEqual(pools);
  });

  it('writes the YAML on stdout, the summary on stderr, and reads - as standard input', async () => {
    const text = readFileSync(`${FIXTURES}php-fpm/www.conf`, 'utf8');
    const file = await fcgid(processes, ['import', `${FIXTURES}php-fpm/www.conf`]);
    const stdin = await fcgid(processes, ['import', '-'], text);
    expect(stdin.status, stdin.stderr).toBe(0);
    expect(stdin.stdout).toMatch(/^# Imported by `fcgid import` from standard input \(php-fpm\)\.\n/);
    // The same pools either way; only the header names the source.
    expect(stdin.stdout.split('\npools:\n')[1]).toBe(file.stdout.split('\npools:\n')[1]);
    expect(stdin.stderr).toMatch(
      /^fcgid: imported 2 pools \(www, api\) from standard input \(php-fpm\)\nfcgid: 15 notes to review, each a # comment in the output:\n  www: pm\.status_path = \/status \(<stdin>:27\): /,
    );
  });

  it('refuses to overwrite a file with -o unless --force', async () => {
    const out = scratch.path('exists.yaml');
    writeFileSync(out, 'mine\n');
    const r = await fcgid(processes, ['import', `${FIXTURES}spawn-fcgi/flask.init`, '-o', out]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`fcgid: ${out} exists; choose another file or add --force to overwrite it\n`);
    expect(readFileSync(out, 'utf8')).toBe('mine\n');
    const forced = await fcgid(processes, ['import', `${FIXTURES}spawn-fcgi/flask.init`, '-o', out, '--force']);
    expect(forced.status, forced.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toContain('pools:\n  # spawn-fcgi command line (line 16)\n  app:\n');
  });

  it('--from overrides recognition', async () => {
    const file = scratch.path('program.conf');
    writeFileSync(file, '[program:php]\ncommand=/usr/bin/spawn-fcgi -n -s /run/php.sock -- /usr/bin/php-cgi\n');
    const r = await fcgid(processes, ['import', '--from', 'spawn-fcgi', file]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('    command: [/usr/bin/php-cgi] # the program after --\n');
  });

  it.each([
    ['a missing file', () => scratch.path('nope.conf'), [], /^fcgid: \S+nope\.conf: cannot read it \(ENOENT\); check the path\n$/],
    ['a directory', () => FIXTURES, [], /^fcgid: \S+ is a directory; give the config file itself\n$/],
    [
      'a file past 1 MiB',
      () => bigFile(scratch),
      [],
      /^fcgid: \S+big\.conf: 2,097,152 bytes; fcgid import reads at most 1,048,576 \(1 MiB\): give it the config file itself\n$/,
    ],
    [
      'binary junk',
      () => junkFile(scratch),
      [],
      /^fcgid: junk\.bin:2: binary data \(byte 0x00\), not a config file; give fcgid import the text file the program reads\n$/,
    ],
    [
      'an unterminated section',
      () => textFile(scratch, 'broken.conf', '[fcgi-program:app\ncommand=/bin/x\n'),
      [],
      /^fcgid: broken\.conf:1: the section header "\[fcgi-program:app" has no closing \]; write it as \[name\]\n$/,
    ],
    [
      'an unknown --from',
      () => `${FIXTURES}php-fpm/www.conf`,
      ['--from', 'nginx'],
      /^fcgid: --from nginx: expected one of supervisord, php-fpm, spawn-fcgi, lighttpd, apache\n$/,
    ],
    [
      'text of no known format',
      () => textFile(scratch, 'notes.txt', 'just some notes\n'),
      [],
      /^fcgid: notes\.txt: cannot tell which program this config is for; say it with --from /,
    ],
  ] as Array<[string, () => string, string[], RegExp]>)('exit 2 and one line for %s', async (_what, file, extra, message) => {
    const r = await fcgid(processes, ['import', ...extra, file()]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    noStack(r);
  });
});

function textFile(scratch: Scratch, name: string, text: string): string {
  writeFileSync(scratch.path(name), text);
  return scratch.path(name);
}

function bigFile(scratch: Scratch): string {
  return textFile(scratch, 'big.conf', `[fcgi-program:x]\n${';'.repeat(2 * 1024 * 1024 - 18)}\n`);
}

function junkFile(scratch: Scratch): string {
  writeFileSync(scratch.path('junk.bin'), Buffer.from([0x5b, 0x77, 0x77, 0x77, 0x5d, 0x0a, 0x00, 0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01]));
  return scratch.path('junk.bin');
}

/**
 * The imported YAML made runnable here: `edit` moves sockets into the scratch dir;
 * workers keep their users when the test runs as root, else user fields go.
 * control.socket goes into the scratch dir, log.level debug (the Fcgid helper follows slot states).
 */
function runnable(scratch: Scratch, yaml: string, name: string, edit: (doc: Document) => void): { file: string; ctl: string } {
  const doc = parseDocument(yaml);
  edit(doc);
  if (!ROOT) {
    for (const pool of Object.keys((doc.toJS() as { pools: object }).pools)) {
      for (const key of ['user', 'group', 'socket_owner', 'socket_group']) doc.deleteIn(['pools', pool, key]);
    }
  }
  const ctl = scratch.path(`${name}.ctl`);
  doc.set('control', doc.createNode({ socket: ctl }));
  doc.set('log', doc.createNode({ level: 'debug' }));
  const file = scratch.path(`${name}.yaml`);
  writeFileSync(file, doc.toString({ lineWidth: 0 }));
  return { file, ctl };
}

describe.skipIf(missingPeers('php-cgi'))('a converted php-fpm config runs', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let d: Fcgid;
  let ctl: string;
  let script: string;

  beforeAll(async () => {
    scratch = new Scratch('fcgid-import-fpm-');
    // The api pool runs as nobody with open_basedir the scratch dir: its script must be readable there.
    chmodSync(scratch.dir, 0o755);
    script = scratch.path('pid.php');
    copyFileSync(PID_PHP, script);
    chmodSync(script, 0o644);
    const imported = await fcgid(processes, ['import', `${FIXTURES}php-fpm/www.conf`]);
    expect(imported.status, imported.stderr).toBe(0);
    const port = await freePort();
    let file: string;
    ({ file, ctl } = runnable(scratch, imported.stdout, 'fpm', (doc) => {
      doc.setIn(['pools', 'www', 'listen'], `unix:${scratch.path('www.sock')}`);
      doc.setIn(['pools', 'api', 'listen'], `tcp://127.0.0.1:${port}`);
      // open_basedir /srv/api:/tmp as imported, narrowed to the scratch dir: the
      // checkout itself may be under /tmp, and the test needs a script outside.
      const command = doc.getIn(['pools', 'api', 'command']) as { items: Array<{ value: string }> };
      const basedir = command.items.find((item) => item.value.startsWith('open_basedir='))!;
      expect(basedir.value).toBe('open_basedir=/srv/api:/tmp');
      basedir.value = `open_basedir=${scratch.dir}`;
    }));
    const check = await fcgid(processes, ['check', '-c', file]);
    expect(check.status, check.stderr).toBe(0);
    d = new Fcgid(processes, file);
    await d.waitForRunning('www', 3);
    await d.waitForRunning('api', 1);
  });

  afterAll(() => tearDown(processes, scratch, [d]));

  it('pool www (pm = dynamic, min 3) answers through fcgictl request, from a php-cgi worker fcgid started', async () => {
    const r = await fcgictl(processes, ['-s', ctl, 'request', 'www', '/pid.php', '--script-filename', PID_PHP]);
    expect(r.status, r.stderr).toBe(0);
    const pid = Number(/^pid (\d+)$/m.exec(r.stdout)?.[1]);
    expect(d.runningPids('www')).toContain(pid);
    // One php-cgi per worker (PHP_FCGI_CHILDREN "0"), running as the pool's user.
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    if (ROOT) expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).toBe('33');
  });

  it('pool api (pm = ondemand, php_admin_value[open_basedir] as -d) answers, and open_basedir holds', async () => {
    const ok = await fcgictl(processes, ['-s', ctl, 'request', 'api', '/pid.php', '--script-filename', script]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^pid \d+$/m);
    // Outside open_basedir, php-cgi refuses the script: the -d argument is in force.
    const outside = await fcgictl(processes, ['-s', ctl, 'request', 'api', '/pid.php', '--script-filename', PID_PHP]);
    expect(outside.status).toBe(1);
  });
});

describe.skipIf(missingFlup())('a converted supervisord config runs', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let d: Fcgid;
  let ctl: string;

  beforeAll(async () => {
    scratch = new Scratch('fcgid-import-sup-');
    const imported = await fcgid(processes, ['import', `${FIXTURES}supervisord/flask.conf`]);
    expect(imported.status, imported.stderr).toBe(0);
    const port = await freePort();
    let file: string;
    ({ file, ctl } = runnable(scratch, imported.stdout, 'sup', (doc) => {
      doc.setIn(['pools', 'flask', 'listen'], `unix:${scratch.path('flask.sock')}`);
      // flup is not installed system-wide here; the fixture's app.fcgi is test/fixtures/flup/app.fcgi.
      doc.setIn(['pools', 'flask', 'env', 'PYTHONPATH'], FLUP);
      // api's program is /srv/api/server.py: the same flup app stands in for it, behind the same sh -c.
      const command = doc.getIn(['pools', 'api', 'command']) as { items: Array<{ value: string }> };
      command.items[2]!.value = command.items[2]!.value.replace(
        '/srv/api/venv/bin/python /srv/api/server.py',
        `/usr/bin/python3 ${FIXTURES}supervisord/app.fcgi`,
      );
      doc.setIn(['pools', 'api', 'env'], doc.createNode({ PYTHONPATH: FLUP, PYTHONDONTWRITEBYTECODE: '1' }));
      doc.setIn(['pools', 'api', 'listen'], `tcp://127.0.0.1:${port}`);
    }));
    const check = await fcgid(processes, ['check', '-c', file]);
    expect(check.status, check.stderr).toBe(0);
    d = new Fcgid(processes, file);
    await d.waitForRunning('flask', 4, 40_000);
    await d.waitForRunning('api', 2, 40_000);
  });

  afterAll(() => tearDown(processes, scratch, [d]));

  it('[fcgi-program:flask] (numprocs 4, socket_owner www-data:www-data) answers through fcgictl request', async () => {
    const r = await fcgictl(processes, ['-s', ctl, 'request', 'flask', '/hello']);
    expect(r.status, r.stderr).toBe(0);
    const pid = Number(/^pid (\d+)$/m.exec(r.stdout)?.[1]);
    expect(d.runningPids('flask')).toContain(pid);
    const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    expect(env).toContain('APP_GREETING=hello, world');
    expect(env).toContain('FLASK_CONFIG=/etc/flask/production.cfg');
  });

  it('[fcgi-program:api]: each worker got --worker %(process_num)d as supervisord numbered it (numprocs_start=1)', async () => {
    const r = await fcgictl(processes, ['-s', ctl, 'request', 'api', '/']);
    expect(r.status, r.stderr).toBe(0);
    const workers = [0, 1].map((slot) => {
      const pid = d.slots.get(`api/${slot}`)!.pid!;
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(-3, -1);
    });
    expect(workers).toEqual([
      ['--worker', '1'],
      ['--worker', '2'],
    ]);
  });
});

describe.skipIf(missingPeers('php-cgi') ?? missingFlup())('converted spawn-fcgi, lighttpd and mod_fcgid configs run', () => {
  const processes = new Processes();
  let scratch: Scratch;
  const daemons: Fcgid[] = [];

  beforeAll(() => {
    scratch = new Scratch('fcgid-import-more-');
    chmodSync(scratch.dir, 0o755);
    copyFileSync(PID_PHP, scratch.path('pid.php'));
    chmodSync(scratch.path('pid.php'), 0o644);
  });

  afterAll(() => tearDown(processes, scratch, daemons));

  it.each([
    ['spawn-fcgi/php-fcgi.service', 'spawnfcgi'],
    ['lighttpd/lighttpd.conf', 'lighttpd'],
    ['apache/mod-fcgid.conf', 'apache'],
  ])('%s: each pool answers fcgictl request with the params its web settings give (no --script-filename)', async (fixture, name) => {
    const imported = await fcgid(processes, ['import', `${FIXTURES}${fixture}`]);
    expect(imported.status, imported.stderr).toBe(0);
    const pools = Object.keys((parseDocument(imported.stdout).toJS() as { pools: object }).pools);
    const { file, ctl } = runnable(scratch, imported.stdout, name, (doc) => {
      for (const pool of pools) {
        // Only what this machine lacks changes: the sockets' directory, the app's files, the document root.
        doc.setIn(['pools', pool, 'listen'], `unix:${scratch.path(`${name}-${pool}.sock`)}`);
        doc.setIn(['pools', pool, 'cwd'], scratch.dir);
        if (pool === 'php') doc.setIn(['pools', pool, 'web', 'root'], scratch.dir);
        else {
          doc.setIn(['pools', pool, 'command'], doc.createNode(['/usr/bin/python3', `${FIXTURES}supervisord/app.fcgi`]));
          doc.setIn(['pools', pool, 'env', 'PYTHONPATH'], FLUP);
        }
      }
    });
    const check = await fcgid(processes, ['check', '-c', file]);
    expect(check.status, check.stderr).toBe(0);
    const d = new Fcgid(processes, file);
    daemons.push(d);
    for (const pool of pools) await d.waitForRunning(pool, 1, 40_000);
    for (const pool of pools) {
      // php at /: /pid.php is SCRIPT_FILENAME root/pid.php; the app at its mount (/app): its route /hello.
      const path = pool === 'php' ? '/pid.php' : '/app/hello';
      const r = await fcgictl(processes, ['-s', ctl, 'request', pool, path]);
      expect(r.status, `${pool} ${path}: ${r.stderr}`).toBe(0);
      expect(d.runningPids(pool).length).toBeGreaterThan(0);
      expect(r.stdout).toMatch(/^pid \d+$/m);
    }
  });
});
