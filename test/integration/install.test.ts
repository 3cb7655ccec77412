// fcgid installed the way the README says (`npm pack`, then `npm install -g` of
// the tarball), into a temp prefix: the installed commands run, the shipped
// hello config starts and answers, and the shipped systemd unit agrees with
// where npm puts the commands. systemd-analyze verify, like systemd itself,
// looks the unit's bare `fcgid`/`fcgictl` up in systemd's fixed search path
// (never in $PATH), so the unit is checked under `--root` against roots where
// npm installed the tarball with prefix /usr and with /usr/local, the two
// prefixes that path covers. See docs/systemd.md.

import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fcgid, tearDown } from '../helpers/daemon.js';
import { Processes, Scratch, missingPeers, runToEnd, which } from '../helpers/peers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const UNITS = join(ROOT, 'systemd');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
/** The units systemd itself ships, which the default dependencies of ours (sysinit.target, …) need. */
const SYSTEM_UNITS = '/usr/lib/systemd/system';

/** Our environment without what `npm test` exports to its scripts (npm_config_*, …), with this node first on PATH. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('npm_')) env[k] = v;
  env.PATH = `${dirname(process.execPath)}:${env.PATH ?? ''}`;
  return env;
}

/** Run a program to completion; throws with its output unless it exits 0. */
function mustRun(command: string, args: string[], cwd: string): string {
  const r = spawnSync(command, args, { cwd, env: cleanEnv(), encoding: 'utf8', timeout: 110_000 });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** `npm install -g --prefix PREFIX TGZ`: dependencies from npm's cache when it has them, else the registry. */
function installGlobal(npm: string, tgz: string, prefix: string): void {
  mustRun(npm, ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tgz], ROOT);
}

/** Every `Key=value` line of a unit, by key (a key may repeat). */
function unitKeys(text: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) keys.set(m[1]!, [...(keys.get(m[1]!) ?? []), m[2]!]);
  }
  return keys;
}

const noNpm = missingPeers('npm');

describe.skipIf(noNpm !== null)('npm pack, then npm install -g of the tarball', () => {
  const processes = new Processes();
  const daemons: Fcgid[] = [];
  let scratch: Scratch;
  let npm: string;
  let tgz: string;
  let packed: string[];
  /** The install under test: prefix/bin/fcgid, prefix/lib/node_modules/fcgid. */
  let prefix: string;
  let pkg: string;

  beforeAll(() => {
    scratch = new Scratch('fcgid-install-');
    npm = which('npm')!;
    if (!existsSync(join(ROOT, 'dist', 'bundle', 'fcgid.cjs'))) throw new Error('no build in dist/: run `npm run build` (npm test does)');
    // --ignore-scripts: `npm test` has just built dist/; "prepare" would build it again.
    const out = mustRun(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch.dir], ROOT);
    const [info] = JSON.parse(out) as Array<{ filename: string; files: Array<{ path: string }> }>;
    tgz = scratch.path(info!.filename);
    packed = info!.files.map((f) => f.path);
    prefix = scratch.path('prefix');
    installGlobal(npm, tgz, prefix);
    pkg = join(prefix, 'lib', 'node_modules', 'fcgid');
  }, 120_000);

  afterAll(() => tearDown(processes, scratch, daemons));

  /** An installed command, run as an operator would: through its #! line. */
  const installed = (name: 'fcgid' | 'fcgictl', args: string[]) => runToEnd(processes, join(prefix, 'bin', name), args, { env: cleanEnv() });

  it('the tarball is fcgid-<version>.tgz and carries the build: bin/ and dist/ with both bundles', () => {
    expect(tgz.endsWith(`/fcgid-${VERSION}.tgz`)).toBe(true);
    for (const f of ['bin/fcgid', 'bin/fcgictl', 'bin/run.cjs', 'dist/cli/launch.cjs', 'dist/bundle/fcgid.cjs', 'dist/bundle/fcgictl.cjs', 'config/hello.yaml', 'systemd/fcgid@.service']) {
      expect(packed, f).toContain(f);
    }
  });

  it('the README and the systemd docs install the tarball npm pack makes', () => {
    for (const doc of ['README.md', 'docs/systemd.md', 'systemd/README.md']) {
      const named = [...readFileSync(join(ROOT, doc), 'utf8').matchAll(/npm install -g \.\/(fcgid-\S+\.tgz)/g)].map((m) => m[1]);
      expect(named.length, doc).toBeGreaterThan(0);
      for (const name of named) expect(name, doc).toBe(basename(tgz));
    }
  });

  it("installed `fcgid --version` and `fcgictl --version` print package.json's version", async () => {
    for (const name of ['fcgid', 'fcgictl'] as const) {
      const r = await installed(name, ['--version']);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(VERSION);
    }
  });

  it('installed `fcgictl --help` lists its commands', async () => {
    const r = await installed('fcgictl', ['--help']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Usage: fcgictl /m);
    expect(r.stdout).toMatch(/^\s+reload\b/m);
  });

  it('installed `fcgid check -c <installed>/config/hello.yaml` exits 0, paths resolved inside the install', async () => {
    const r = await installed('fcgid', ['check', '-c', join(pkg, 'config', 'hello.yaml')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`cwd: ${join(pkg, 'config')}`);
  });

  it('a config error is exit status 2 from `fcgid check` and `fcgid start` alike (what RestartPreventExitStatus=2 relies on)', async () => {
    const bad = scratch.path('bad.yaml');
    writeFileSync(bad, stringify({ control: { socket: scratch.path('bad.ctl') }, pools: { app: { command: ['true'], listen: `unix:${scratch.path('bad.sock')}`, wrokers: 2 } } }));
    for (const verb of ['check', 'start']) {
      const r = await installed('fcgid', [verb, '-c', bad]);
      expect(r.status, `fcgid ${verb}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/wrokers: unknown key/);
    }
  });

  it('installed fcgid runs the shipped config/hello.yaml as it is: its workers answer `fcgictl request`', async () => {
    // The shipped config with only its sockets moved into the scratch dir, saved
    // beside the original so that its relative command resolves the same way.
    const shipped = parse(readFileSync(join(pkg, 'config', 'hello.yaml'), 'utf8')) as { control: Record<string, unknown>; log?: Record<string, unknown>; pools: { hello: Record<string, unknown> } };
    const sock = scratch.path('hello.sock');
    shipped.control.socket = scratch.path('hello.ctl');
    shipped.log = { ...shipped.log, level: 'debug' };
    shipped.pools.hello.listen = `unix:${sock}`;
    const config = join(pkg, 'config', 'test-hello.yaml');
    writeFileSync(config, stringify(shipped));

    const d = new Fcgid(processes, config, { env: cleanEnv() }, join(prefix, 'bin', 'fcgid'));
    daemons.push(d);
    const workers = Number(shipped.pools.hello.workers);
    // Every worker running, or the first that gave up (with its stderr in the line).
    const outcome = await d.waitUntil(() => d.lines.find((l) => l.to === 'fatal') ?? (d.runningPids('hello').length === workers ? 'running' : undefined));
    expect(outcome === 'running' ? outcome : d.lines.filter((l) => l.level >= 50).map((l) => l.msg).join('\n')).toBe('running');
    const r = await installed('fcgictl', ['request', '-a', `unix:${sock}`, '/hello']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^hello from pid \d+: GET \/hello$/m);
  });
});

const noVerify = noNpm ?? missingPeers('systemd-analyze');

describe.skipIf(noVerify !== null)('the shipped unit agrees with where npm installs fcgid', () => {
  let scratch: Scratch;
  let npm: string;
  let tgz: string;
  const service = readFileSync(join(UNITS, 'fcgid@.service'), 'utf8');
  const keys = unitKeys(service);

  beforeAll(() => {
    scratch = new Scratch('fcgid-install-unit-');
    npm = which('npm')!;
    const out = mustRun(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch.dir], ROOT);
    tgz = scratch.path((JSON.parse(out) as Array<{ filename: string }>)[0]!.filename);
  }, 120_000);

  afterAll(() => scratch?.remove());

  /**
   * A root with systemd's own units, `service` and the shipped socket unit in
   * /etc/systemd/system (as docs/systemd.md installs them), and fcgid installed
   * with npm prefix `npmPrefix` (none: not installed).
   */
  function root(name: string, npmPrefix: string | null, unit = service): string {
    const at = scratch.path(name);
    cpSync(SYSTEM_UNITS, join(at, SYSTEM_UNITS), { recursive: true, verbatimSymlinks: true });
    const etc = join(at, 'etc', 'systemd', 'system');
    mkdirSync(etc, { recursive: true });
    writeFileSync(join(etc, 'fcgid@.service'), unit);
    cpSync(join(UNITS, 'fcgid@.socket'), join(etc, 'fcgid@.socket'));
    if (npmPrefix !== null) installGlobal(npm, tgz, join(at, npmPrefix));
    return at;
  }

  function verify(at: string): { status: number | null; stderr: string } {
    const r = spawnSync('systemd-analyze', ['verify', `--root=${at}`, 'fcgid@app.service', 'fcgid@app.socket'], { cwd: scratch.dir, encoding: 'utf8' });
    return { status: r.status, stderr: r.stderr };
  }

  it('its Exec lines name the commands bare: `fcgid`, `fcgictl`', () => {
    const exec = [...keys].filter(([k]) => k.startsWith('Exec')).flatMap(([, v]) => v);
    expect(exec.length).toBeGreaterThan(0);
    for (const line of exec) expect(line, line).toMatch(/^[-@:+!]*(fcgid|fcgictl) /);
  });

  it.each(['/usr', '/usr/local'])('systemd-analyze verify fcgid@app.service fcgid@app.socket passes with npm prefix %s', (npmPrefix) => {
    const r = verify(root(`root${npmPrefix.replaceAll('/', '-')}`, npmPrefix));
    // Only what it says about our units: the copied system units are not ours to judge.
    expect(r.stderr.split('\n').filter((l) => /fcgid/.test(l))).toEqual([]);
    expect(r.status).toBe(0);
  }, 120_000);

  it('(control) the same check fails where fcgid is not installed, and for the unit with /usr/local/bin/ paths on a /usr install', () => {
    const none = verify(root('root-none', null));
    expect(none.stderr).toMatch(/fcgid@app\.service: Command fcgid is not executable/);
    expect(none.status).not.toBe(0);
    const absolute = service.replace(/^(Exec\w+=[-@:+!]*)(fcgid|fcgictl) /gm, '$1/usr/local/bin/$2 ');
    expect(absolute).not.toBe(service);
    const wrong = verify(root('root-absolute', '/usr', absolute));
    expect(wrong.stderr).toMatch(/Command \/usr\/local\/bin\/fcgid is not executable/);
    expect(wrong.status).not.toBe(0);
  }, 120_000);

  it('a config error (exit status 2) is not retried: Restart=on-failure, RestartPreventExitStatus=2, no ExecStartPre= that can fail', () => {
    expect(keys.get('Restart')).toEqual(['on-failure']);
    expect((keys.get('RestartPreventExitStatus') ?? []).join(' ').split(/\s+/)).toContain('2');
    // systemd restarts after a failed ExecStartPre= whatever its status:
    // RestartPreventExitStatus= looks at the main process only.
    for (const pre of keys.get('ExecStartPre') ?? []) expect(pre, pre).toMatch(/^-/);
  });
});
