// Configs that tried to exhaust or confuse the daemon (issue 11, "Inputs that
// exhaust the daemon"): each case is named after what it did before, and must
// now end in one line that names the place and the bound, in work linear in
// the file. A case that would hang again fails by the test's timeout.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../../src/config/load.js';
import { LIMITS } from '../../src/config/types.js';

const FILE = '/etc/fcgid/app.yaml';
const y = (...lines: string[]): string => lines.join('\n') + '\n';
/** A valid pool on lines 1-4; extra lines start at line 5. */
const pool = (...extra: string[]): string => y('pools:', '  app:', '    command: [/usr/bin/php-cgi]', '    listen: unix:/run/app.sock', ...extra);

function problems(text: string, file = FILE): string[] {
  try {
    parseConfig(text, file, { uid: 0, env: {} });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message.split('\n');
  }
  throw new Error('expected a ConfigError');
}

/** Nine aliases of the level before, `levels` times: 9^levels nodes once expanded. */
function bomb(levels: number): string {
  const out = ['x-bomb:', '  a0: &a0 [x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i <= levels; i++) out.push(`  a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(', ')}]`);
  return out.join('\n') + '\n';
}

describe('numbers past their bound are refused, the bound named', () => {
  it.each([
    ['regression: workers 1000000000 passed check, and start grew 100 MB per 0.5 s', '    workers: 1000000000', 'pools.app.workers: expected an integer from 1 to 10,000, got 1000000000'],
    ['workers 1e20', '    workers: 1e20', 'pools.app.workers: expected an integer from 1 to 10,000, got 100000000000000000000'],
    ['max_workers 10001', '    max_workers: 10001', 'pools.app.max_workers: expected an integer from 1 to 10,000, got 10001'],
    ['regression: socket_fd 5000000000 gave a stack trace (RangeError: Invalid array length at spawn)', '    socket_fd: 5000000000', 'pools.app.socket_fd: expected an integer from 0 to 255, got 5000000000'],
    ['backlog 1000000', '    backlog: 1000000', 'pools.app.backlog: expected an integer from 1 to 65,535, got 1000000'],
    ['start_retries 1e9', '    start_retries: 1000000000', 'pools.app.start_retries: expected an integer from 0 to 1,000, got 1000000000'],
    [
      "regression: stop_timeout 1000h overflowed Node's timer and SIGKILLed the worker 13 ms after its stop signal",
      '    stop_timeout: 1000h',
      "pools.app.stop_timeout: expected a duration of at most 576h (24 days: longer than Node's timers can wait), got \"1000h\"",
    ],
    ['start_secs 30000000 seconds', '    start_secs: 30000000', "pools.app.start_secs: expected a duration of at most 576h (24 days: longer than Node's timers can wait), got 30000000"],
    ['max_memory 2048G', '    max_memory: 2048G', 'pools.app.max_memory: expected a size of at most 1024G, got "2048G"'],
  ])('%s', (_what, line, message) => {
    expect(problems(pool(line))).toEqual([`app.yaml:5: ${message}`]);
  });

  it('the largest values in bounds are accepted', () => {
    const c = parseConfig(pool('    workers: 10000', '    stop_timeout: 576h', '    socket_fd: 255', '    backlog: 65535', '    max_memory: 1024G'), FILE, { uid: 0, env: {} });
    expect(c.pools[0]).toMatchObject({ workers: 10_000, stop_timeout: LIMITS.durationMs, socket_fd: 255, backlog: 65_535, max_memory: LIMITS.sizeBytes });
  });
});

describe('YAML aliases and large mappings: linear work', () => {
  it('regression: 9 nested alias levels (a 0.6 KB file) hung check and start; now the bomb is never expanded', () => {
    const text = bomb(9) + pool();
    expect(Buffer.byteLength(text)).toBeLessThan(1024);
    // The unknown section is reported, not walked.
    expect(problems(text)).toEqual(['app.yaml:1: x-bomb: unknown key; valid keys: control, log, metrics, pools']);
  });

  it('the bomb where a known key expects a mapping or a list of strings: refused by type, not walked', () => {
    // bomb(9) is lines 1-11; the pool's env, pass_env and watch are lines 16-18. A problem
    // with an alias is on the alias's line; one inside what it names, where that is written.
    const lines = problems(bomb(9) + pool('    env: *a9', '    pass_env: *a9', '    watch: [*a9, *a9]'));
    expect(lines).toContain('app.yaml:16: pools.app.env: expected a mapping of names to values, got a list');
    expect(lines).toContain('app.yaml:11: pools.app.pass_env[0]: expected a string, got a list');
    expect(lines).toContain('app.yaml:18: pools.app.watch[1]: expected a string, got a list');
    expect(lines.length).toBeLessThanOrEqual(LIMITS.issues + 1);
  });

  it('an anchor used as a value still reads as the node it names', () => {
    const c = parseConfig(y('pools:', '  a:', '    command: &php [/usr/bin/php-cgi, -d, x=1]', '    listen: unix:/run/a.sock', '  b:', '    command: *php', '    listen: unix:/run/b.sock'), FILE);
    expect(c.pools.map((p) => p.command)).toEqual([
      ['/usr/bin/php-cgi', '-d', 'x=1'],
      ['/usr/bin/php-cgi', '-d', 'x=1'],
    ]);
  });

  it('an alias with no anchor before it is one line, not a crash', () => {
    expect(problems(pool('    command: *nowhere'))).toEqual(['app.yaml:5: YAML: the alias *nowhere names no anchor defined before it']);
  });

  it('regression: 20,000 env keys took 3.7 s (a quadratic duplicate-key check); a mapping is read in one pass, and env has a bound', () => {
    const env = Array.from({ length: 20_000 }, (_, i) => `      K${i}: v${i}`);
    expect(problems(pool('    env:', ...env))).toEqual(['app.yaml:6: pools.app.env: 20,000 entries; at most 4,096']);
    const fine = Array.from({ length: LIMITS.envEntries }, (_, i) => `      K${i}: v${i}`);
    expect(Object.keys(parseConfig(pool('    env:', ...fine), FILE).pools[0]!.env)).toHaveLength(LIMITS.envEntries);
  });

  it('60,000 keys in a section nobody reads: one line for the section', () => {
    const keys = Array.from({ length: 60_000 }, (_, i) => `  k${i}: ${i}`);
    expect(problems(y('x-notes:', ...keys) + pool())).toEqual(['app.yaml:1: x-notes: unknown key; valid keys: control, log, metrics, pools']);
  });

  it('YAML nested thousands deep: one line, not a stack overflow', () => {
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    const lines = problems(pool(`    env: ${deep}`));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^app\.yaml(:\d+)?: YAML: .*nest/);
  });

  it('a thousand problems: the first 50 in line order, then one line with how many more', () => {
    const lines = problems(pool(...Array.from({ length: 1000 }, (_, i) => `    bad${i}: 1`)));
    expect(lines).toHaveLength(51);
    expect(lines[0]).toMatch(/^app\.yaml:5: pools\.app\.bad0: unknown key/);
    expect(lines[50]).toBe('app.yaml: and 950 more problems');
  });
});

describe('files past the size bound', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fcgid-config-hostile-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('regression: a 10 MB config did not finish in 20 s; now it is refused, read no further than the bound', () => {
    const file = join(dir, 'big.yaml');
    writeFileSync(file, pool() + `# ${'x'.repeat(10 * 1024 * 1024)}\n`);
    expect(() => loadConfig(file)).toThrow(/^big\.yaml: the file is 10,485,8\d\d bytes; a config may be at most 1,048,576 \(1 MiB\)$/);
  });

  it('a file of exactly the bound is read', () => {
    const file = join(dir, 'edge.yaml');
    const head = pool();
    writeFileSync(file, head + '#'.repeat(LIMITS.configBytes - Buffer.byteLength(head) - 1) + '\n');
    expect(loadConfig(file).pools).toHaveLength(1);
  });
});

describe('names and sockets that could not work', () => {
  it.each([
    ['regression: a pool keyed by a mapping became a pool named "undefined"', y('pools:', '  ? {a: 1}', '  : {command: x, listen: unix:/run/a.sock}'), 'app.yaml:2: pools: expected a name as the key, got a mapping'],
    ['regression: a pool keyed by ~ became a pool named "null"', y('pools:', '  ~: {command: x, listen: unix:/run/a.sock}'), 'app.yaml:2: pools: expected a name as the key, got null'],
    [
      'regression: a pool named ".." was accepted but could not be addressed (fcgictl stop .. answered "no route")',
      y('pools:', '  ..: {command: x, listen: unix:/run/a.sock}'),
      'app.yaml:2: pools...: a pool name is 1 to 64 letters, digits, "_", "." and "-", and not "." or ".." (it is a path segment of the control API)',
    ],
    ['a pool name of 65 characters', y('pools:', `  ${'a'.repeat(65)}: {command: x, listen: unix:/run/a.sock}`), `app.yaml:2: pools.${'a'.repeat(65)}: a pool name is 1 to 64 letters, digits, "_", "." and "-", and not "." or ".." (it is a path segment of the control API)`],
  ])('%s', (_what, text, message) => {
    expect(problems(text)).toEqual([message]);
  });

  it('regression: a listen path over 107 bytes was bound truncated (and the truncated file left after stop)', () => {
    const long = `/run/${'d'.repeat(100)}/app.sock`;
    expect(problems(y('pools:', '  app:', '    command: x', `    listen: unix:${long}`))).toEqual([
      `app.yaml:4: pools.app.listen: ${long} is ${Buffer.byteLength(long)} bytes; the kernel limits a unix socket path to 107 (sun_path); choose a shorter path`,
    ]);
  });

  it('regression: a control.socket over 107 bytes gave a stack trace and exit 1', () => {
    const long = `/run/${'c'.repeat(100)}/app.ctl`;
    expect(problems(y('control:', `  socket: ${long}`) + y('pools:', '  app: {command: x, listen: unix:/run/a.sock}'))).toEqual([
      `app.yaml:2: control.socket: ${long} is ${Buffer.byteLength(long)} bytes; the kernel limits a unix socket path to 107 (sun_path); choose a shorter path`,
    ]);
  });

  it('a default control socket that would be too long names the fix', () => {
    const file = `/etc/fcgid/${'u'.repeat(100)}.yaml`;
    expect(problems(y('pools:', '  app: {command: x, listen: unix:/run/a.sock}'), file)).toEqual([
      `${'u'.repeat(100)}.yaml: control.socket: /run/fcgid/${'u'.repeat(100)}.ctl is 115 bytes; the kernel limits a unix socket path to 107 (sun_path); set control.socket to a shorter path`,
    ]);
  });

  it('regression: listen equal to control.socket gave a stack trace at start', () => {
    expect(problems(y('control:', '  socket: /run/fcgid/app.sock', 'pools:', '  app:', '    command: x', '    listen: unix:/run/fcgid/app.sock'))).toEqual([
      'app.yaml:6: pools.app.listen: unix:/run/fcgid/app.sock is the control socket (control.socket); give the pool its own',
    ]);
  });

  it.each([
    ['unix:/run/fcgid/a.sock', 'unix:/run/fcgid/./a.sock', 'unix:/run/fcgid/a.sock is already the listen address of pool one'],
    ['unix:/run/fcgid/a.sock', 'unix:/run/x/../fcgid//a.sock', 'unix:/run/fcgid/a.sock is already the listen address of pool one'],
    ['tcp://127.0.0.1:9000', 'tcp://0.0.0.0:9000', 'tcp://0.0.0.0:9000 is already the listen address of pool one (tcp://127.0.0.1:9000)'],
    ['tcp://[::]:9000', 'tcp://127.0.0.1:9000', 'tcp://127.0.0.1:9000 is already the listen address of pool one (tcp://[::]:9000)'],
  ])('regression: one socket spelled two ways passed check and failed at start: %s and %s', (a, b, message) => {
    expect(problems(y('pools:', '  one:', '    command: x', `    listen: ${a}`, '  two:', '    command: x', `    listen: ${b}`))).toEqual([`app.yaml:7: pools.two.listen: ${message}`]);
  });

  it('127.0.0.1 and ::1 on one port are two sockets', () => {
    const c = parseConfig(y('pools:', '  one: {command: x, listen: "tcp://127.0.0.1:9000"}', '  two: {command: x, listen: "tcp://[::1]:9000"}'), FILE);
    expect(c.pools).toHaveLength(2);
  });
});
