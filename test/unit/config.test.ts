// The config file is fcgid's user interface (DESIGN.md §2): every bad config
// must give one exact line per problem, `app.yaml:LINE: key.path: message`, all
// problems at once; a good one resolves to the documented defaults; the resolved
// view (`fcgid check`) parses back to the same config.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { splitCommand } from '../../src/config/command.js';
import { ConfigError, loadConfig, parseConfig } from '../../src/config/load.js';
import { nearest } from '../../src/config/suggest.js';
import type { Config } from '../../src/config/types.js';
import { parseDuration, parseMode, parseSignal, parseSize } from '../../src/config/units.js';
import { configView, formatDuration } from '../../src/config/view.js';

const FILE = '/etc/fcgid/app.yaml';

/** YAML text from lines, so that line numbers can be read off the test. */
const y = (...lines: string[]): string => lines.join('\n') + '\n';

/** A valid pool on lines 1-4; extra lines start at line 5. */
const pool = (...extra: string[]): string =>
  y('pools:', '  app:', '    command: [/usr/bin/php-cgi]', '    listen: unix:/run/app.sock', ...extra);

function configError(text: string): ConfigError {
  try {
    parseConfig(text, FILE);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`expected a ConfigError for:\n${text}`);
}

const EXPECTED_POOL_KEYS =
  'command, listen, cwd, web, user, group, umask, env, clear_env, pass_env, socket_fd, socket_mode, socket_owner, socket_group, backlog, allowed_clients, workers, min_workers, max_workers, spare_idle_timeout, idle_timeout, start_secs, start_retries, fatal_retry, stop_mode, stop_signal, stop_timeout, restart, max_memory, max_lifetime, watch';

const WORKERS = 'expected an integer from 1 to 10,000';
const DURATION = 'expected a duration such as 250ms, 30s, 5m, 1h or a number of seconds';
const SIZE = 'expected a size such as 512K, 64M, 1G or a number of bytes';
const SIGNAL = 'expected a signal name such as SIGTERM, TERM, SIGQUIT or SIGINT';
const MODE = 'expected an octal mode such as "0660"';
const NO_POOLS = 'pools: expected at least one pool, e.g. pools: { app: { command: [...], listen: unix:/run/app.sock } }';

// [what, config text, the exact one-line message]
const BAD: Array<[string, string, string]> = [
  ['workers not a number', pool('    workers: five'), `app.yaml:5: pools.app.workers: ${WORKERS}, got "five"`],
  ['workers 0', pool('    workers: 0'), `app.yaml:5: pools.app.workers: ${WORKERS}, got 0`],
  ['workers fractional', pool('    workers: 1.5'), `app.yaml:5: pools.app.workers: ${WORKERS}, got 1.5`],
  ['workers quoted', pool('    workers: "5"'), `app.yaml:5: pools.app.workers: ${WORKERS}, got "5"`],
  ['backlog 0', pool('    backlog: 0'), 'app.yaml:5: pools.app.backlog: expected an integer from 1 to 65,535, got 0'],
  ['start_retries negative', pool('    start_retries: -1'), 'app.yaml:5: pools.app.start_retries: expected an integer from 0 to 1,000, got -1'],
  ['unknown pool key near "workers"', pool('    worker: 5'), 'app.yaml:5: pools.app.worker: unknown key; did you mean "workers"?'],
  ['unknown log key near "level"', y('log:', '  levle: info') + pool(), 'app.yaml:2: log.levle: unknown key; did you mean "level"?'],
  ['unknown control key near "socket"', y('control:', '  sokcet: /run/x.ctl') + pool(), 'app.yaml:2: control.sokcet: unknown key; did you mean "socket"?'],
  ['unknown top key, nothing near', y('frobnicate: 1') + pool(), 'app.yaml:1: frobnicate: unknown key; valid keys: control, log, metrics, pools'],
  ['unknown log key, nothing near', y('log:', '  zzzz: 1') + pool(), 'app.yaml:2: log.zzzz: unknown key; valid keys: level, file'],
  ['unknown pool key, nothing near', pool('    zzzzzzzz: 1'), `app.yaml:5: pools.app.zzzzzzzz: unknown key; valid keys: ${EXPECTED_POOL_KEYS}`],
  ['workers and max_workers together', pool('    workers: 2', '    max_workers: 4'), 'app.yaml:5: pools.app.workers: a pool has either workers (fixed) or min_workers/max_workers (dynamic), not both'],
  ['min_workers without max_workers', pool('    min_workers: 2'), 'app.yaml:5: pools.app.max_workers: missing; a dynamic pool needs max_workers (min_workers defaults to 1)'],
  ['min_workers above max_workers', pool('    min_workers: 5', '    max_workers: 4'), 'app.yaml:5: pools.app.min_workers: expected at most max_workers (4), got 5'],
  ['metrics.listen systemd', y('metrics:', '  listen: systemd:m') + pool(), 'app.yaml:2: metrics.listen: expected tcp://HOST:PORT or unix:/path; systemd:NAME is for pools'],
  [
    'missing command',
    y('pools:', '  app:', '    listen: unix:/run/app.sock'),
    'app.yaml:2: pools.app.command: missing; expected the program and its arguments, e.g. ["/usr/bin/php-cgi"]',
  ],
  [
    'missing listen',
    y('pools:', '  app:', '    workers: 2', '    command: [/usr/bin/php-cgi]'),
    'app.yaml:2: pools.app.listen: missing; expected unix:/path/to.sock or tcp://127.0.0.1:9000',
  ],
  [
    'listen without a port',
    y('pools:', '  app:', '    command: [x]', '    listen: tcp://localhost'),
    'app.yaml:4: pools.app.listen: address "tcp://localhost": expected unix:/path/to.sock, tcp://HOST:PORT or tcp://[IPv6]:PORT',
  ],
  [
    'listen port out of range',
    y('pools:', '  app:', '    command: [x]', '    listen: tcp://127.0.0.1:70000'),
    'app.yaml:4: pools.app.listen: address "tcp://127.0.0.1:70000": port must be 1-65535, got 70000',
  ],
  [
    'listen unix: without a path',
    y('pools:', '  app:', '    command: [x]', '    listen: "unix:"'),
    'app.yaml:4: pools.app.listen: address "unix:": unix: needs a path, e.g. unix:/run/fcgid/app.sock',
  ],
  [
    'listen a mapping',
    y('pools:', '  app:', '    command: [x]', '    listen: { path: /a }'),
    'app.yaml:4: pools.app.listen: expected unix:/path/to.sock or tcp://HOST:PORT, got a mapping',
  ],
  [
    'the same listen address in two pools',
    pool('  b:', '    command: [x]', '    listen: unix:/run/app.sock'),
    'app.yaml:7: pools.b.listen: unix:/run/app.sock is already the listen address of pool app',
  ],
  [
    'the same socket written relative and absolute',
    y('pools:', '  a:', '    command: [x]', '    listen: unix:app.sock', '  b:', '    command: [x]', '    listen: /etc/fcgid/app.sock'),
    'app.yaml:7: pools.b.listen: unix:/etc/fcgid/app.sock is already the listen address of pool a',
  ],
  ['duration with words', pool('    stop_timeout: 10 seconds'), `app.yaml:5: pools.app.stop_timeout: ${DURATION}, got "10 seconds"`],
  ['duration negative', pool('    start_secs: -1'), `app.yaml:5: pools.app.start_secs: ${DURATION}, got -1`],
  ['duration in days', pool('    idle_timeout: 1d'), `app.yaml:5: pools.app.idle_timeout: ${DURATION}, got "1d"`],
  ['size unit unknown', pool('    max_memory: 64X'), `app.yaml:5: pools.app.max_memory: ${SIZE}, got "64X"`],
  ['size fractional bytes', pool('    max_memory: 1.5'), `app.yaml:5: pools.app.max_memory: ${SIZE}, got 1.5`],
  ['size with a stray suffix', pool('    max_memory: 64i'), `app.yaml:5: pools.app.max_memory: ${SIZE}, got "64i"`],
  ['signal unknown', pool('    stop_signal: SIGFOO'), `app.yaml:5: pools.app.stop_signal: ${SIGNAL}, got "SIGFOO"`],
  ['signal as a number', pool('    stop_signal: 15'), `app.yaml:5: pools.app.stop_signal: ${SIGNAL}, got 15`],
  ['mode with a 9', pool('    socket_mode: "0999"'), `app.yaml:5: pools.app.socket_mode: ${MODE}, got "0999"`],
  ['mode too long', pool('    socket_mode: "77777"'), `app.yaml:5: pools.app.socket_mode: ${MODE}, got "77777"`],
  ['mode symbolic', y('control:', '  mode: rw') + pool(), `app.yaml:2: control.mode: ${MODE}, got "rw"`],
  ['restart policy unknown', pool('    restart: sometimes'), 'app.yaml:5: pools.app.restart: expected one of always, on-failure, never, got "sometimes"'],
  ['log level unknown', y('log:', '  level: verbose') + pool(), 'app.yaml:2: log.level: expected one of trace, debug, info, warn, error, got "verbose"'],
  [
    'pool name with a space',
    y('pools:', '  "my app":', '    command: [x]', '    listen: unix:/a.sock'),
    'app.yaml:2: pools.my app: a pool name is 1 to 64 letters, digits, "_", "." and "-", and not "." or ".." (it is a path segment of the control API)',
  ],
  [
    'pool name with a slash',
    y('pools:', '  a/b:', '    command: [x]', '    listen: unix:/a.sock'),
    'app.yaml:2: pools.a/b: a pool name is 1 to 64 letters, digits, "_", "." and "-", and not "." or ".." (it is a path segment of the control API)',
  ],
  [
    'socket_fd 1',
    pool('    socket_fd: 1'),
    "app.yaml:5: pools.app.socket_fd: expected 0 (FastCGI programs) or 3 and above (Node workers), got 1, the worker's stdout",
  ],
  [
    'socket_fd 2',
    pool('    socket_fd: 2'),
    "app.yaml:5: pools.app.socket_fd: expected 0 (FastCGI programs) or 3 and above (Node workers), got 2, the worker's stderr",
  ],
  ['env value a list', pool('    env:', '      A: [1, 2]'), 'app.yaml:6: pools.app.env.A: expected a string, got a list'],
  ['env a list', pool('    env: [A=1]'), 'app.yaml:5: pools.app.env: expected a mapping of names to values, got a list'],
  ['pass_env a string', pool('    pass_env: LANG'), 'app.yaml:5: pools.app.pass_env: expected a list of strings, got "LANG"'],
  ['clear_env yes', pool('    clear_env: yes'), 'app.yaml:5: pools.app.clear_env: expected true or false, got "yes"'],
  ['cwd a list', pool('    cwd: [a]'), 'app.yaml:5: pools.app.cwd: expected a string, got a list'],
  [
    'empty command list',
    y('pools:', '  app:', '    command: []', '    listen: unix:/a.sock'),
    'app.yaml:3: pools.app.command: expected a program to run, got an empty list',
  ],
  [
    'empty command string',
    y('pools:', '  app:', '    command: "  "', '    listen: unix:/a.sock'),
    'app.yaml:3: pools.app.command: expected a program to run, got an empty string',
  ],
  [
    'command list holding a list',
    y('pools:', '  app:', '    command: [php, [a]]', '    listen: unix:/a.sock'),
    'app.yaml:3: pools.app.command[1]: expected a string, got a list',
  ],
  [
    'unterminated quote in a command string',
    y('pools:', '  app:', `    command: "python3 'my app.fcgi"`, '    listen: unix:/a.sock'),
    'app.yaml:3: pools.app.command: unterminated quote in the command string',
  ],
  [
    'YAML syntax error',
    y('pools:', '  app:', '    command: [x', '    listen: unix:/a.sock'),
    'app.yaml:4: YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
  ],
  ['YAML tab indentation', y('pools:', '\tapp: 1'), 'app.yaml:2: YAML: Tabs are not allowed as indentation'],
  ['regression: a duplicate key is named (it read "YAML: Map keys must be unique")', pool('    workers: 2', '    workers: 3'), 'app.yaml:6: pools.app.workers: duplicate key "workers"; a key may appear once in a mapping'],
  ['pools missing', y('log:', '  level: info'), `app.yaml: ${NO_POOLS}`],
  ['pools null', y('pools:'), `app.yaml:1: ${NO_POOLS}`],
  ['pools empty', y('pools: {}'), `app.yaml:1: ${NO_POOLS}`],
  ['pools a list', y('pools: [app]'), 'app.yaml:1: pools: expected a mapping of pool names to pools, got a list'],
  ['a pool with nothing in it', y('pools:', '  app:'), 'app.yaml:2: pools.app: expected a mapping with command and listen, got nothing'],
  ['a pool that is a number', y('pools:', '  app: 3'), 'app.yaml:2: pools.app: expected a mapping, got 3'],
  ['log a string', y('log: debug') + pool(), 'app.yaml:1: log: expected a mapping, got "debug"'],
  ['empty file', '', `app.yaml: ${NO_POOLS}`],
  ['top level a list', y('- a', '- b'), 'app.yaml:1: expected a mapping with pools (and optionally control and log), got a list'],
  ['top level a string', y('hello'), 'app.yaml:1: expected a mapping with pools (and optionally control and log), got "hello"'],
];

describe('parseConfig: each bad config gives one exact line', () => {
  it.each(BAD)('%s', (_what, text, message) => {
    const err = configError(text);
    expect(err.message).toBe(message);
    expect(err.issues).toHaveLength(1);
    expect(err.code).toBe('FCGID_BAD_CONFIG');
    expect(err.issues[0]!.file).toBe(FILE);
  });

  it('reports every problem at once, sorted by line', () => {
    // The reader visits control, log, then pools; the file puts log last.
    const text = y(
      'pools:', //                          1
      '  app:', //                          2
      '    command: [x]', //                3
      '    listen: unix:/a.sock', //        4
      '    workers: 0', //                  5
      '    stop_signal: NOPE', //           6
      'log:', //                            7
      '  level: loud', //                   8
    );
    const err = configError(text);
    expect(err.issues.map((i) => [i.line, i.path])).toEqual([
      [5, 'pools.app.workers'],
      [6, 'pools.app.stop_signal'],
      [8, 'log.level'],
    ]);
    expect(err.message).toBe(
      [
        `app.yaml:5: pools.app.workers: ${WORKERS}, got 0`,
        `app.yaml:6: pools.app.stop_signal: ${SIGNAL}, got "NOPE"`,
        'app.yaml:8: log.level: expected one of trace, debug, info, warn, error, got "loud"',
      ].join('\n'),
    );
  });

  it('reports problems in several pools and sections together', () => {
    const text = y(
      'control:', //                        1
      '  mode: "999"', //                   2
      'pools:', //                          3
      '  a:', //                            4
      '    command: []', //                 5
      '    listen: unix:/a.sock', //        6
      '  b:', //                            7
      '    comand: [x]', //                 8
      '    listen: unix:/a.sock', //        9
      '  c:', //                            10
      '    command: [x]', //                11
      '    listen: unix:/c.sock', //        12
      '    restart: no', //                 13
    );
    const err = configError(text);
    expect(err.issues.map((i) => `${i.line} ${i.path}`)).toEqual([
      '2 control.mode',
      '5 pools.a.command',
      '7 pools.b.command',
      '8 pools.b.comand',
      '13 pools.c.restart',
    ]);
    expect(err.issues[3]!.message).toBe('unknown key; did you mean "command"?');
  });

  it('loadConfig names an unreadable file without a line', () => {
    let err: unknown;
    try {
      loadConfig('/nonexistent/fcgid-test/app.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toBe('app.yaml: cannot read the config file: ENOENT');
    expect((err as ConfigError).issues[0]!.line).toBeNull();
  });
});

describe('defaults', () => {
  const minimal = y('pools:', '  app:', '    command: /usr/bin/php-cgi', '    listen: unix:app.sock');

  it('a minimal config resolves to the documented defaults', () => {
    const cfg = parseConfig(minimal, FILE, { uid: 0 });
    expect(cfg).toEqual({
      file: FILE,
      control: { socket: '/run/fcgid/app.ctl', mode: 0o600, group: null },
      log: { level: 'info', file: null },
      metrics: { listen: null },
      pools: [
        {
          name: 'app',
          command: ['/usr/bin/php-cgi'],
          cwd: '/etc/fcgid',
          user: null,
          group: null,
          umask: null,
          env: {},
          clear_env: false,
          pass_env: [],
          listen: { kind: 'unix', path: '/etc/fcgid/app.sock' },
          socket_fd: 0,
          socket_mode: null,
          socket_owner: null,
          socket_group: null,
          backlog: 511,
          allowed_clients: [],
          workers: 1,
          min_workers: null,
          max_workers: null,
          spare_idle_timeout: 10_000,
          idle_timeout: 0,
          start_secs: 1000,
          start_retries: 5,
          fatal_retry: 300_000,
          stop_mode: 'freeze',
          stop_signal: 'SIGTERM',
          stop_timeout: 10_000,
          restart: 'always',
          max_memory: 0,
          max_lifetime: 0,
          watch: [],
          web: { mount: '/', kind: 'php', root: '/etc/fcgid', static: {} },
        },
      ],
    });
  });

  it('reads YAML anchors and aliases as the node they name', () => {
    const cfg = parseConfig(
      y('pools:', '  a:', '    command: &php [/usr/bin/php-cgi, -d, x=1]', '    env: &env { A: "1" }', '    listen: unix:a.sock', '  b:', '    command: *php', '    env: *env', '    listen: unix:b.sock'),
      FILE,
    );
    expect(cfg.pools[1]!.command).toEqual(['/usr/bin/php-cgi', '-d', 'x=1']);
    expect(cfg.pools[1]!.env).toEqual({ A: '1' });
  });

  it('two pools do not share default objects', () => {
    const cfg = parseConfig(y('pools:', '  a:', '    command: x', '    listen: unix:a.sock', '  b:', '    command: x', '    listen: unix:b.sock'), FILE);
    cfg.pools[0]!.env.X = '1';
    cfg.pools[0]!.pass_env.push('LANG');
    expect(cfg.pools[1]!.env).toEqual({});
    expect(cfg.pools[1]!.pass_env).toEqual([]);
    expect(parseConfig(minimal, FILE).pools[0]!.env).toEqual({});
  });

  it('the control socket defaults by user: /run/fcgid as root, else XDG_RUNTIME_DIR, else a per-user tmp dir', () => {
    expect(parseConfig(minimal, FILE, { uid: 0 }).control.socket).toBe('/run/fcgid/app.ctl');
    expect(parseConfig(minimal, FILE, { uid: 1000, env: { XDG_RUNTIME_DIR: '/run/user/1000' } }).control.socket).toBe('/run/user/1000/fcgid/app.ctl');
    expect(parseConfig(minimal, FILE, { uid: 1000, env: {} }).control.socket).toBe(join(tmpdir(), 'fcgid-1000', 'app.ctl'));
  });

  it('relative paths resolve against the config file directory', () => {
    const cfg = parseConfig(
      y(
        'control:',
        '  socket: run/app.ctl',
        'log:',
        '  file: ../log/fcgid.log',
        'pools:',
        '  app:',
        '    command: ./app.fcgi',
        '    cwd: www',
        '    listen: unix:sock/app.sock',
      ),
      FILE,
    );
    expect(cfg.control.socket).toBe('/etc/fcgid/run/app.ctl');
    expect(cfg.log.file).toBe('/etc/log/fcgid.log');
    expect(cfg.pools[0]!.cwd).toBe('/etc/fcgid/www');
    expect(cfg.pools[0]!.listen).toEqual({ kind: 'unix', path: '/etc/fcgid/sock/app.sock' });
    // argv is passed as written: the worker runs in cwd, where ./app.fcgi means what the user meant.
    expect(cfg.pools[0]!.command).toEqual(['./app.fcgi']);
  });

  it('loadConfig reads a file and resolves against its directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fcgid-config-test-'));
    try {
      writeFileSync(join(dir, 'site.yaml'), minimal);
      const cfg = loadConfig(join(dir, 'site.yaml'), { uid: 0 });
      expect(cfg.file).toBe(join(dir, 'site.yaml'));
      expect(cfg.pools[0]!.cwd).toBe(dir);
      expect(cfg.pools[0]!.listen).toEqual({ kind: 'unix', path: join(dir, 'app.sock') });
      expect(cfg.control.socket).toBe('/run/fcgid/site.ctl');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tcp listeners, socket_fd above 2 and numbers in env are read as written', () => {
    const cfg = parseConfig(
      pool('  api:', '    command: [node, w.js]', '    listen: tcp://[::1]:9000', '    socket_fd: 3', '    env: { PORT: 80, DEBUG: false }'),
      FILE,
    );
    expect(cfg.pools.map((p) => p.name)).toEqual(['app', 'api']);
    expect(cfg.pools[1]!.listen).toEqual({ kind: 'tcp', host: '::1', port: 9000 });
    expect(cfg.pools[1]!.socket_fd).toBe(3);
    expect(cfg.pools[1]!.env).toEqual({ PORT: '80', DEBUG: 'false' });
  });
});

describe('units', () => {
  it.each([
    ['250ms', 250],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1.5s', 1500],
    [' 30s ', 30_000],
    ['10', 10_000],
    [30, 30_000],
    [0.25, 250],
    [0, 0],
  ] as const)('duration %j is %i ms', (input, ms) => {
    expect(parseDuration(input)).toEqual({ ok: true, value: ms });
  });

  it.each(['10 seconds', '-1s', '1d', '5M', '', 's', -1, Number.NaN, Number.POSITIVE_INFINITY, null, true, ['1s']])(
    'duration %j is rejected',
    (input) => {
      expect(parseDuration(input).ok).toBe(false);
    },
  );

  it.each([
    ['512K', 512 * 1024],
    ['64M', 64 * 1024 ** 2],
    ['1G', 1024 ** 3],
    ['64m', 64 * 1024 ** 2],
    ['64MB', 64 * 1024 ** 2],
    ['64MiB', 64 * 1024 ** 2],
    ['100B', 100],
    ['1024', 1024],
    [1024, 1024],
    [0, 0],
  ] as const)('size %j is %i bytes', (input, bytes) => {
    expect(parseSize(input)).toEqual({ ok: true, value: bytes });
  });

  it.each(['64X', '1T', '64i', 'M', '1.5', '1.5B', '', -1, 1.5, null])('size %j is rejected', (input) => {
    expect(parseSize(input).ok).toBe(false);
  });

  it.each([
    ['TERM', 'SIGTERM'],
    ['SIGTERM', 'SIGTERM'],
    ['term', 'SIGTERM'],
    ['sigquit', 'SIGQUIT'],
    [' INT ', 'SIGINT'],
    ['SIGUSR1', 'SIGUSR1'],
  ] as const)('signal %j is %s', (input, name) => {
    expect(parseSignal(input)).toEqual({ ok: true, value: name });
  });

  it.each(['SIGFOO', 'SIG', '', 15, null])('signal %j is rejected', (input) => {
    expect(parseSignal(input).ok).toBe(false);
  });

  it.each([
    ['0660', 0o660],
    ['660', 0o660],
    ['0022', 0o22],
    ['7777', 0o7777],
  ] as const)('mode %j is %o', (input, mode) => {
    expect(parseMode(input)).toEqual({ ok: true, value: mode });
  });

  it.each(['0999', '66', '77777', 'rw', '', 660, null])('mode %j is rejected', (input) => {
    expect(parseMode(input).ok).toBe(false);
  });

  it('modes are read from the YAML source, where YAML 1.2 would read an unquoted 0660 as decimal', () => {
    const p = (line: string) => parseConfig(pool(line), FILE).pools[0]!;
    expect(p('    socket_mode: 0660').socket_mode).toBe(0o660);
    expect(p('    socket_mode: 660').socket_mode).toBe(0o660);
    expect(p('    socket_mode: "0660"').socket_mode).toBe(0o660);
    expect(p('    socket_mode: 0o660').socket_mode).toBe(0o660);
    expect(p('    umask: 022').umask).toBe(0o22);
    expect(p('    umask: 0027').umask).toBe(0o27);
    expect(parseConfig(y('control:', '  mode: 0660') + pool(), FILE).control.mode).toBe(0o660);
  });

  it('durations, sizes and signals are read in their pool', () => {
    const p = parseConfig(
      pool('    start_secs: 1.5s', '    stop_timeout: 30', '    idle_timeout: 5m', '    max_lifetime: 1h', '    max_memory: 64M', '    stop_signal: quit'),
      FILE,
    ).pools[0]!;
    expect([p.start_secs, p.stop_timeout, p.idle_timeout, p.max_lifetime, p.max_memory, p.stop_signal]).toEqual([
      1500,
      30_000,
      300_000,
      3_600_000,
      64 * 1024 ** 2,
      'SIGQUIT',
    ]);
  });
});

describe('nearest', () => {
  it('suggests the closest key and nothing for far-off words', () => {
    expect(nearest('worker', ['workers', 'backlog'])).toBe('workers');
    expect(nearest('Workers', ['workers', 'backlog'])).toBe('workers');
    expect(nearest('levle', ['level', 'file'])).toBe('level');
    expect(nearest('stop_timeuot', ['stop_timeout', 'stop_signal'])).toBe('stop_timeout');
    expect(nearest('zzzz', ['level', 'file'])).toBeUndefined();
  });
});

describe('splitCommand', () => {
  it.each([
    ['php-cgi -b 1', ['php-cgi', '-b', '1']],
    ['  a \t b\n c  ', ['a', 'b', 'c']],
    [`python3 'my app.fcgi' "x y"`, ['python3', 'my app.fcgi', 'x y']],
    ['a\\ b c', ['a b', 'c']],
    ['"say \\"hi\\""', ['say "hi"']],
    ['"a\\\\b"', ['a\\b']],
    ['"a\\nb"', ['a\\nb']],
    ["'a\\b'", ['a\\b']],
    [`'it'"'"'s'`, ["it's"]],
    ['a""b', ['ab']],
    ['"" x', ['', 'x']],
    ["''", ['']],
    ['$HOME/*.py | tee', ['$HOME/*.py', '|', 'tee']],
    ['', []],
    ['   ', []],
  ] as const)('%j splits into %j', (text, words) => {
    expect(splitCommand(text)).toEqual(words);
  });

  it.each([`'abc`, '"abc', `a "b 'c"' d`, `"it's`])('%j has an unterminated quote', (text) => {
    expect(splitCommand(text)).toBeNull();
  });

  it('a command string in the config is split the same way', () => {
    const cfg = parseConfig(y('pools:', '  app:', `    command: python3 "/srv/my app/app.fcgi" --name 'a b'`, '    listen: unix:/a.sock'), FILE);
    expect(cfg.pools[0]!.command).toEqual(['python3', '/srv/my app/app.fcgi', '--name', 'a b']);
  });
});

describe('configView', () => {
  const roundTrip = (cfg: Config): Config => parseConfig(stringify(configView(cfg)), cfg.file);

  it.each([
    [0, 0],
    [250, '250ms'],
    [1500, '1500ms'],
    [30_000, '30s'],
    [90_000, '90s'],
    [300_000, '5m'],
    [3_600_000, '1h'],
  ] as const)('formatDuration(%i) is %j and parses back', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toEqual({ ok: true, value: ms });
  });

  it('a config with every option set parses back from its view unchanged', () => {
    const cfg = parseConfig(
      y(
        'control:',
        '  socket: /run/fcgid/x.ctl',
        '  mode: "0660"',
        '  group: www-data',
        'log:',
        '  level: debug',
        '  file: /var/log/fcgid.log',
        'pools:',
        '  app:',
        `    command: "python3 'my app.fcgi' --flag"`,
        '    cwd: /var/www/app',
        '    user: www-data',
        '    group: "33"',
        '    umask: "0027"',
        '    env: { FLASK_ENV: production, N: 5, YES: "true", EMPTY: "" }',
        '    clear_env: true',
        '    pass_env: [LANG, TZ]',
        '    listen: unix:/run/fcgid/app.sock',
        '    socket_fd: 3',
        '    socket_mode: 0660',
        '    socket_owner: www-data',
        '    socket_group: www-data',
        '    backlog: 128',
        '    allowed_clients: [127.0.0.1, "::1"]',
        '    workers: 5',
        '    idle_timeout: 300s',
        '    start_secs: 1.5s',
        '    start_retries: 0',
        '    fatal_retry: 10m',
        '    stop_signal: QUIT',
        '    stop_timeout: 250ms',
        '    restart: on-failure',
        '    max_memory: 64M',
        '    max_lifetime: 1h',
        '    watch: ["/var/www/app/**/*.py"]',
        '  api:',
        '    command: [php-cgi, "-d", "x=1"]',
        '    listen: tcp://[::1]:9000',
        '  rel.pool-2:',
        '    command: x',
        '    listen: unix:rel.sock',
      ),
      FILE,
    );
    const view = configView(cfg) as { control: Record<string, unknown>; pools: Record<string, Record<string, unknown>> };
    expect(view.control.mode).toBe('0660');
    expect(view.pools.app).toMatchObject({
      listen: 'unix:/run/fcgid/app.sock',
      umask: '0027',
      socket_mode: '0660',
      idle_timeout: '5m',
      start_secs: '1500ms',
      fatal_retry: '10m',
      stop_timeout: '250ms',
      max_lifetime: '1h',
      max_memory: 64 * 1024 ** 2,
      stop_signal: 'SIGQUIT',
    });
    expect(view.pools.app).not.toHaveProperty('name');
    expect(view.pools.api!.listen).toBe('tcp://[::1]:9000');
    expect(roundTrip(cfg)).toEqual(cfg);
  });

  it('a minimal config parses back from its view unchanged', () => {
    const cfg = parseConfig(y('pools:', '  app:', '    command: x', '    listen: 9000'), FILE);
    expect(roundTrip(cfg)).toEqual(cfg);
  });
});
