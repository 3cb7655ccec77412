// `fcgid import` (src/migrate/): each fixture under test/fixtures/migrate/ (a
// real-looking supervisord, php-fpm, spawn-fcgi, lighttpd and Apache config)
// becomes the pools it should, with the values fcgid reads back from the YAML
// (parseConfig, the reader `fcgid check` uses) and a comment for each setting
// with no equivalent; hostile input (too big, binary, unterminated, mutated)
// gives one line naming the file and line, never another exception.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { IMPORT_FORMATS } from '../../src/cli/import-command.js';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import type { Config, PoolConfig } from '../../src/config/types.js';
import { FORMATS, MigrateError, detectFormat, migrate, type Format, type Migration } from '../../src/migrate/index.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/migrate/', import.meta.url));
const fixture = (name: string): { file: string; text: string } => ({ file: `${FIXTURES}${name}`, text: readFileSync(`${FIXTURES}${name}`, 'utf8') });

interface Imported extends Migration {
  config: Config;
  pool(name: string): PoolConfig;
  /** The comment block at the end of a pool (its "Not carried over" and "Web server" lines), joined into one line. */
  comments(name: string): string;
  /** The comments at the top of the file, joined into one line. */
  header: string;
}

function imported(name: string, format: Format | null = null): Imported {
  const { file, text } = fixture(name);
  const result = migrate(format, text, file);
  const config = parseConfig(result.yaml, '/etc/fcgid/imported.yaml');
  const doc = parseDocument(result.yaml);
  const join = (s: string | null | undefined): string => (s ?? '').replace(/\n\s*/g, ' ').replace(/\s+/g, ' ');
  return {
    ...result,
    config,
    pool: (n) => {
      const p = config.pools.find((x) => x.name === n);
      if (!p) throw new Error(`no pool ${n} in:\n${result.yaml}`);
      return p;
    },
    comments: (n) => join((doc.getIn(['pools', n]) as { comment?: string }).comment),
    header: join(doc.commentBefore),
  };
}

/** A MigrateError's message for `text`. */
function refused(text: string, file = '/etc/app/app.conf', format: Format | null = null): string {
  try {
    migrate(format, text, file);
  } catch (err) {
    expect(err).toBeInstanceOf(MigrateError);
    return (err as Error).message;
  }
  throw new Error(`expected a MigrateError for:\n${text.slice(0, 500)}`);
}

describe('supervisord', () => {
  const r = imported('supervisord/flask.conf');
  const here = `${FIXTURES}supervisord`;

  it('is recognized, and each [fcgi-program:x] is a pool', () => {
    expect(r.format).toBe('supervisord');
    expect(r.pools).toEqual(['flask', 'api']);
  });

  it('maps every [fcgi-program] setting that has an equivalent, expanding %(here)s and %(program_name)s', () => {
    const p = r.pool('flask');
    expect(p.command).toEqual(['/usr/bin/python3', `${here}/app.fcgi`]);
    expect(p.cwd).toBe(here);
    expect(p.user).toBe('www-data');
    expect(p.umask).toBe(0o022);
    expect(p.env).toEqual({ PYTHONDONTWRITEBYTECODE: '1', FLASK_CONFIG: '/etc/flask/production.cfg', APP_GREETING: 'hello, world' });
    expect(p.listen).toEqual({ kind: 'unix', path: '/run/flask/flask.sock' });
    expect([p.socket_owner, p.socket_group, p.socket_mode, p.backlog]).toEqual(['www-data', 'www-data', 0o660, 128]);
    expect([p.workers, p.min_workers, p.start_secs, p.start_retries]).toEqual([4, null, 2000, 3]);
    expect([p.stop_signal, p.stop_timeout, p.restart]).toEqual(['SIGINT', 30_000, 'on-failure']);
  });

  it('writes values the way people write them: "0660", 30s, user:group as given', () => {
    expect(r.yaml).toContain('    socket_mode: "0660"');
    expect(r.yaml).toContain('    umask: "0022"');
    expect(r.yaml).toContain('    stop_timeout: 30s # stopwaitsecs');
    expect(r.yaml).toContain('    socket_owner: www-data:www-data');
    expect(r.yaml).toContain('    restart: on-failure # autorestart=unexpected');
  });

  it('runs a command with %(process_num)d through sh, with the worker slot plus numprocs_start there', () => {
    const p = r.pool('api');
    expect(p.command).toEqual(['/bin/sh', '-c', 'exec /srv/api/venv/bin/python /srv/api/server.py --worker "$((FCGID_WORKER + 1))"']);
    expect(p.listen).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 9002 });
    expect([p.workers, p.restart]).toEqual([2, 'always']);
  });

  it('comments on each setting with no equivalent, naming it, its line and what to do', () => {
    const c = r.comments('flask');
    expect(c).toContain('- exitcodes=0,2 (line 38): fcgid counts only exit status 0 as expected');
    expect(c).toContain('- priority=900 (line 39): fcgid starts every pool at once');
    expect(c).toMatch(
      /- redirect_stderr=true, stdout_logfile=\S+, stdout_logfile_maxbytes=50MB, stdout_logfile_backups=10 \(lines 42, 43, 44, 45\): fcgid logs each line/,
    );
    expect(c).toContain('flask/0, flask/1');
    expect(c).toContain('Web server: - it keeps talking to unix:/run/flask/flask.sock, the socket supervisord used: nothing changes there');
    // autostart=true and stopasgroup=true are what fcgid does anyway: no comment.
    expect(c).not.toMatch(/autostart|stopasgroup|killasgroup/);
  });

  it("says [program:x] is not a FastCGI pool, and that supervisord's own sections are replaced", () => {
    expect(r.header).toContain(`Imported by \`fcgid import\` from ${FIXTURES}supervisord/flask.conf (supervisord).`);
    expect(r.header).toContain(
      '[program:celery] command=/srv/flask/venv/bin/celery -A tasks worker --loglevel=INFO (line 57): a [program] gets no socket from supervisord, so it is not a FastCGI pool',
    );
    expect(r.header).toContain('[unix_http_server], [supervisord], [rpcinterface:supervisor], [supervisorctl] (lines 4, 8, 13, 16)');
    expect(r.header).toContain('[group:web] (line 63): fcgid has no groups');
  });

  it('notes list each comment with the file and line, for the summary on stderr', () => {
    expect(r.notes).toContain(
      'flask: priority=900 (flask.conf:39): fcgid starts every pool at once; start order only matters for programs that need each other, which FastCGI workers should not',
    );
    expect(r.notes.filter((n) => n.startsWith('api: '))).toHaveLength(2);
  });

  it('points a [program:x] that runs spawn-fcgi or php-cgi -b at the pool it could be', () => {
    const text =
      '[program:php]\ncommand=/usr/bin/spawn-fcgi -n -s /run/php.sock -- /usr/bin/php-cgi\n[program:cgi]\ncommand=/usr/bin/php-cgi -b 127.0.0.1:9000\n[fcgi-program:x]\ncommand=/bin/x\nsocket=tcp://127.0.0.1:9009\n';
    const out = migrate(null, text, '/etc/supervisor/conf.d/php.conf');
    expect(out.notes[0]).toContain('it runs spawn-fcgi: put that command line in a file and import it with `fcgid import --from spawn-fcgi FILE`');
    expect(out.notes[1]).toContain('a pool with command php-cgi (without -b) and listen: tcp://127.0.0.1:9000');
  });

  it('names %(ENV_X)s and %(here)s it could not expand (standard input has no directory)', () => {
    const out = migrate(null, '[fcgi-program:x]\ncommand=%(here)s/app.fcgi --home %(ENV_HOME)s\nsocket=unix:///run/x.sock\n', '-');
    expect(out.notes.join('\n')).toContain("%(ENV_HOME)s is supervisord's own environment at start-up; fcgid does not expand it: write the value in");
    expect(out.notes.join('\n')).toContain('%(here)s is the directory of the config file, unknown for standard input');
    expect(out.yaml).toContain('from standard input (supervisord)');
  });

  it('makes an invalid program name a valid pool name, unknown settings and out-of-range values comments', () => {
    const out = migrate(null, '[fcgi-program:my app]\ncommand=/bin/x\nsocket=unix:///run/x.sock\nfrobnicate=yes\nnumprocs=20000\n', '/etc/s.conf');
    expect(out.pools).toEqual(['my-app']);
    expect(out.notes).toEqual([
      'my-app: name "my app" (s.conf:1): named "my-app" here (a pool name is 1 to 64 of A-Za-z0-9_.- and unique); fcgictl and the logs use this name',
      'my-app: frobnicate=yes (s.conf:4): not an [fcgi-program] setting fcgid knows; left out',
      "my-app: numprocs 20000 (s.conf:5): fcgid's workers is 1 to 10,000; left out (fcgid's default applies): set workers by hand",
    ]);
    expect(parseConfig(out.yaml, '/etc/fcgid/x.yaml').pools[0]!.workers).toBe(1);
  });
});

describe('php-fpm', () => {
  const r = imported('php-fpm/www.conf');

  it('is recognized, and each [pool] is a pool of php-cgi, one process per worker', () => {
    expect(r.format).toBe('php-fpm');
    expect(r.pools).toEqual(['www', 'api']);
    for (const name of r.pools) {
      expect(r.pool(name).command[0]).toBe('/usr/bin/php-cgi');
      expect(r.pool(name).env.PHP_FCGI_CHILDREN).toBe('0');
      expect(r.pool(name).web.kind).toBe('php');
      expect(r.pool(name).web.mount).toBe('/');
    }
  });

  it('maps pm = dynamic to min_workers/max_workers, php_value and php_admin_value to -d, $pool to the name', () => {
    const p = r.pool('www');
    expect(p.command).toEqual([
      '/usr/bin/php-cgi',
      '-d',
      'display_errors=off',
      '-d',
      'error_log=/var/log/php-fpm/www.error.log',
      '-d',
      'log_errors=on',
      '-d',
      'memory_limit=128M',
      '-d',
      'upload_max_filesize=16M',
    ]);
    expect([p.user, p.group, p.cwd, p.web.root]).toEqual(['www-data', 'www-data', '/var/www/html', '/var/www/html']);
    // /run/php is www-data's on Debian: fcgid would refuse to bind there, so the pool moves to /run/fcgid.
    expect(p.listen).toEqual({ kind: 'unix', path: '/run/fcgid/www.sock' });
    expect([p.socket_owner, p.socket_group, p.socket_mode, p.backlog]).toEqual(['www-data', 'www-data', 0o660, 511]);
    expect([p.min_workers, p.max_workers, p.workers]).toEqual([3, 10, 3]);
    expect(p.idle_timeout).toBe(60_000);
    expect(p.env).toEqual({ PHP_FCGI_CHILDREN: '0', PHP_FCGI_MAX_REQUESTS: '500', PATH: '/usr/local/bin:/usr/bin:/bin', TMP: '/tmp', APP_ENV: 'production' });
    // clear_env = no: the environment is fcgid's, env[HOSTNAME] = $HOSTNAME comes with it.
    expect([p.clear_env, p.pass_env]).toEqual([false, []]);
  });

  it("maps pm = ondemand to a dynamic pool from 1 with spare_idle_timeout, and clear_env (php-fpm's default) with $VAR as pass_env", () => {
    const p = r.pool('api');
    expect(p.listen).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 9001 });
    expect(p.allowed_clients).toEqual(['127.0.0.1']);
    expect([p.min_workers, p.max_workers, p.spare_idle_timeout, p.idle_timeout]).toEqual([1, 4, 30_000, 120_000]);
    expect([p.clear_env, p.pass_env, p.user, p.group]).toEqual([true, ['PATH'], 'nobody', 'nogroup']);
    expect(p.command).toEqual(['/usr/bin/php-cgi', '-d', 'open_basedir=/srv/api:/tmp']);
  });

  it('comments on the slow log, the status page, php_admin_value and php.ini, with lines', () => {
    const c = r.comments('www');
    expect(c).toContain('- slowlog = /var/log/php-fpm/www.log.slow, request_slowlog_timeout = 5s (lines 31, 32): fcgid keeps no slow-request log');
    expect(c).toContain('- pm.status_path = /status (line 27): `fcgictl status POOL` shows every worker');
    expect(c).toContain('- php_admin_value[error_log], php_admin_flag[log_errors], php_admin_value[upload_max_filesize] (lines 46, 47, 49)');
    expect(c).toContain("- php-cgi reads /etc/php/8.2/cgi/php.ini, not php-fpm's");
    expect(c).toContain('- pm.min_spare_servers = 2, pm.max_spare_servers = 5 (lines 23, 24)');
    expect(c).toContain(
      "Web server: - php-fpm's socket /run/php/php8.2-fpm.sock is in /run/php, which Debian and Ubuntu give to www-data; fcgid binds no socket in a directory another user can write, so it listens on /run/fcgid/www.sock: change nginx's `fastcgi_pass unix:/run/php/php8.2-fpm.sock;`",
    );
    expect(r.comments('api')).toContain("Web server: - it keeps talking to tcp://127.0.0.1:9001, php-fpm's socket: nothing changes there");
    expect(r.comments('api')).toContain("- rlimit_files = 4096 (line 61): workers inherit fcgid's limits: set LimitNOFILE=");
  });

  it('pm = static is a fixed pool; a bare port listens on every address; [global] process_control_timeout is stop_timeout', () => {
    const text = '[global]\npid = /run/php-fpm.pid\nprocess_control_timeout = 20s\n[app]\nlisten = 9000\npm = static\npm.max_children = 6\n';
    const out = migrate(null, text, '/etc/php-fpm.conf');
    const p = parseConfig(out.yaml, '/etc/fcgid/x.yaml').pools[0]!;
    expect([p.workers, p.min_workers, p.stop_timeout]).toEqual([6, null, 20_000]);
    expect(p.listen).toEqual({ kind: 'tcp', host: '::', port: 9000 });
    expect(out.notes[0]).toContain("pid (php-fpm.conf:2): php-fpm's own daemon settings");
  });
});

describe('spawn-fcgi', () => {
  it('reads the ExecStart= of a systemd unit across backslash continuations, with Environment=', () => {
    const r = imported('spawn-fcgi/php-fcgi.service');
    expect(r.format).toBe('spawn-fcgi');
    const p = r.pool('php');
    expect(p.command).toEqual(['/usr/bin/php-cgi', '-d', 'memory_limit=128M']);
    expect(p.listen).toEqual({ kind: 'unix', path: '/run/php-fcgi.sock' });
    expect([p.socket_mode, p.socket_owner, p.socket_group, p.user, p.group, p.cwd]).toEqual([
      0o660,
      'www-data',
      'www-data',
      'www-data',
      'www-data',
      '/var/www/html',
    ]);
    expect([p.workers, p.backlog]).toEqual([2, 256]);
    expect(p.env).toEqual({ PHP_FCGI_CHILDREN: '4', PHP_FCGI_MAX_REQUESTS: '1000', APP_ENV: 'production' });
    expect(p.web.kind).toBe('php');
    expect(r.comments('php')).toContain('- -P /run/php-fcgi.pid (line 10): fcgid writes no pid file per program');
    expect(r.header).toContain('the systemd unit (line 10): it ran spawn-fcgi; run fcgid instead');
  });

  it('reads an init script: -a/-p, -f, export, and comments on -n and -c (chroot)', () => {
    const r = imported('spawn-fcgi/flask.init');
    const p = r.pool('app');
    expect(p.command).toEqual(['/usr/bin/python3', '/srv/flask/app.fcgi']);
    expect(p.listen).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 9001 });
    expect([p.user, p.group, p.cwd]).toEqual(['nobody', 'nogroup', '/srv/flask']);
    expect(p.env).toEqual({ PYTHONDONTWRITEBYTECODE: '1', FLASK_CONFIG: '/etc/flask/production.cfg' });
    expect(r.comments('app')).toContain('- -c /srv/jail (line 16): fcgid does not chroot workers');
    expect(r.comments('app')).toContain('- -n (line 16): spawn-fcgi stayed in the foreground for a supervisor');
  });

  it("takes getopt forms (-p9000), start-stop-daemon's --, K=V before the command; a port alone is every address", () => {
    const out = migrate(
      'spawn-fcgi',
      'PHP_FCGI_MAX_REQUESTS=200 start-stop-daemon --start --exec /usr/bin/spawn-fcgi -- -p9000 -C2 -- /usr/bin/php-cgi\n',
      '/etc/init.d/php',
    );
    const p = parseConfig(out.yaml, '/etc/fcgid/x.yaml').pools[0]!;
    expect(p.listen).toEqual({ kind: 'tcp', host: '0.0.0.0', port: 9000 });
    expect(p.env).toEqual({ PHP_FCGI_CHILDREN: '2', PHP_FCGI_MAX_REQUESTS: '200' });
    expect(out.notes.join('\n')).toContain('without -a spawn-fcgi listened on every address');
  });
});

describe('lighttpd', () => {
  const r = imported('lighttpd/lighttpd.conf');

  it('is recognized; each fastcgi.server backend with bin-path is a pool, named after its extension or prefix', () => {
    expect(r.format).toBe('lighttpd');
    expect(r.pools).toEqual(['php', 'app']);
  });

  it('".php" => … is kind php at / with the document root; bin-environment and bin-copy-environment carry over', () => {
    const p = r.pool('php');
    expect(p.command).toEqual(['/usr/bin/php-cgi']);
    expect(p.web).toEqual({ mount: '/', kind: 'php', root: '/var/www/html', static: {} });
    expect(p.env).toEqual({ PHP_FCGI_CHILDREN: '4', PHP_FCGI_MAX_REQUESTS: '10000' });
    expect([p.clear_env, p.pass_env, p.workers]).toEqual([true, ['PATH', 'SHELL', 'USER'], 2]);
    // lighttpd's socket was lighttpd's: fcgid makes its own, which lighttpd's group must reach.
    expect(p.listen).toEqual({ kind: 'unix', path: '/run/fcgid/php.sock' });
    expect([p.socket_group, p.socket_mode]).toEqual(['www-data', 0o660]);
  });

  it('"/app" => … is web.mount /app, min-procs < max-procs a dynamic pool, var.* expanded, alias.url under it static', () => {
    const p = r.pool('app');
    expect(p.command).toEqual(['/usr/bin/python3', '/srv/flask/app.fcgi']);
    expect(p.web).toEqual({ mount: '/app', kind: 'app', root: '/etc/fcgid', static: { '/app/static': '/srv/flask/static' } });
    expect([p.min_workers, p.max_workers, p.spare_idle_timeout, p.stop_signal]).toEqual([1, 4, 120_000, 'SIGINT']);
  });

  it('says which lines of the lighttpd entry to change, and that a backend without bin-path is external', () => {
    expect(r.comments('php')).toContain(
      'Web server: - in lighttpd.conf, fastcgi.server ".php": remove "bin-path", "max-procs", "bin-environment", "bin-copy-environment" and set "socket" => "/run/fcgid/php.sock"',
    );
    expect(r.comments('app')).toContain('- "check-local" => "disable" (line 32): lighttpd\'s own handling of requests: it stays in the lighttpd entry');
    expect(r.header).toContain('- fastcgi.server "/status" (127.0.0.1:9000) (line 42): no bin-path: lighttpd only connects there');
  });

  it("uses lighttpd's defaults (4 processes) and names each of several backends", () => {
    const text =
      'fastcgi.server = ( ".php" => ( "a" => ( "bin-path" => "/usr/bin/php-cgi", "socket" => "/tmp/a" ), "b" => ( "bin-path" => "/usr/bin/php-cgi", "port" => 9100 ) ) )\n';
    const out = migrate(null, text, '/etc/lighttpd/x.conf');
    const config = parseConfig(out.yaml, '/etc/fcgid/x.yaml');
    expect(config.pools.map((p) => [p.name, p.workers])).toEqual([
      ['php-a', 4],
      ['php-b', 4],
    ]);
    expect(config.pools[1]!.listen).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 9100 });
    expect(out.notes.join('\n')).toContain('lighttpd balanced ".php" over 2 backends');
  });
});

describe('Apache', () => {
  it("Flask's FastCGI guide (FastCgiServer … -idle-timeout 300 -processes 5, ScriptAlias / …/app.fcgi/) is one pool at /", () => {
    const r = imported('apache/flask-fastcgi.conf');
    expect(r.format).toBe('apache');
    expect(r.pools).toEqual(['app']);
    const p = r.pool('app');
    expect(p.command).toEqual(['/var/www/html/yourapplication/app.fcgi']);
    expect(p.cwd).toBe('/var/www/html/yourapplication');
    expect([p.workers, p.idle_timeout]).toEqual([5, 300_000]);
    expect(p.web.mount).toBe('/');
    expect(p.web.kind).toBe('app');
    expect(p.listen).toEqual({ kind: 'unix', path: '/run/fcgid/app.sock' });
    expect(r.yaml).toContain('    idle_timeout: 5m # -idle-timeout');
    expect(r.comments('app')).toContain(
      'Apache must stop starting it: replace `FastCgiServer /var/www/html/yourapplication/app.fcgi …` (line 5) with `FastCgiExternalServer /var/www/html/yourapplication/app.fcgi -socket /run/fcgid/app.sock` and keep the ScriptAlias',
    );
    expect(r.header).toContain('LoadModule fastcgi_module');
  });

  it('mod_fcgid: FcgidWrapper php-cgi .php and a ScriptAlias to app.fcgi are pools; class settings apply where they are set', () => {
    const r = imported('apache/mod-fcgid.conf');
    expect(r.pools).toEqual(['php', 'app']);
    const php = r.pool('php');
    expect(php.command).toEqual(['/usr/bin/php-cgi']);
    expect(php.web).toEqual({ mount: '/', kind: 'php', root: '/var/www/example', static: {} });
    expect([php.min_workers, php.max_workers, php.spare_idle_timeout, php.idle_timeout, php.max_lifetime]).toEqual([1, 8, 120_000, 300_000, 3_600_000]);
    expect(php.env).toEqual({ PATH: '/usr/local/bin:/usr/bin:/bin', PHP_FCGI_MAX_REQUESTS: '1000' });
    const app = r.pool('app');
    expect(app.web).toEqual({ mount: '/app', kind: 'app', root: '/srv/flask', static: { '/app/static': '/srv/flask/static' } });
    // FcgidCmdOptions for this command wins over the class-wide settings; <Directory /srv/flask>'s env applies to it.
    expect([app.min_workers, app.max_workers, app.spare_idle_timeout]).toEqual([1, 4, 600_000]);
    expect(app.env).toEqual({ PATH: '/usr/local/bin:/usr/bin:/bin', FLASK_CONFIG: '/etc/flask/production.cfg', PYTHONDONTWRITEBYTECODE: '1' });
    expect(r.comments('app')).toContain('- FcgidMaxRequestsPerProcess 1000 (line 9): fcgid does not count requests');
    expect(r.header).toContain('- FcgidMaxProcesses 60 (line 4): fcgid has no cap across pools');
    expect(r.header).toContain("- FcgidIOTimeout, FcgidPassHeader (lines 10, 13): Apache's side of a request");
  });

  it("mod_fcgid's defaults when nothing is set: 3 to 100 processes, 300 s idle", () => {
    const out = migrate(null, 'AddHandler fcgid-script .fcgi\nScriptAlias /wiki /usr/lib/cgi-bin/wiki.fcgi\n', '/etc/apache2/wiki.conf');
    const p = parseConfig(out.yaml, '/etc/fcgid/x.yaml').pools[0]!;
    expect([p.name, p.min_workers, p.max_workers, p.spare_idle_timeout, p.web.mount]).toEqual(['wiki', 3, 100, 300_000, '/wiki']);
    expect(out.yaml).toContain("max_workers: 100 # mod_fcgid's default FcgidMaxProcessesPerClass");
  });

  it('a RewriteRule or ScriptAliasMatch leading to a program is a comment saying to set web.mount', () => {
    const text = 'FastCgiServer /srv/app/app.fcgi\nRewriteEngine On\nRewriteRule ^/shop/(.*)$ /app.fcgi/$1 [PT]\n';
    const out = migrate(null, text, '/etc/apache2/shop.conf');
    expect(out.notes).toContain(
      'RewriteRule ^/shop/(.*)$ /app.fcgi/$1 [PT] (shop.conf:3): a pattern fcgid import does not follow to a program: set web.mount of the pool it leads to by hand (fcgid web-config then writes the location)',
    );
    expect(out.notes).toContain("RewriteEngine: not about FastCGI: they stay in Apache's config");
  });

  it('FastCgiExternalServer alone is already external: nothing to import, and the message says why', () => {
    expect(refused('FastCgiExternalServer /var/www/app.fcgi -host 127.0.0.1:9000\n')).toMatch(
      /^app\.conf: no FastCGI program for fcgid to run in this apache config .*FastCgiExternalServer \/var\/www\/app\.fcgi -host 127\.0\.0\.1:9000 \(line 1\): already external/,
    );
  });
});

describe('format', () => {
  it.each([
    ['supervisord/flask.conf', 'supervisord'],
    ['php-fpm/www.conf', 'php-fpm'],
    ['spawn-fcgi/php-fcgi.service', 'spawn-fcgi'],
    ['spawn-fcgi/flask.init', 'spawn-fcgi'],
    ['lighttpd/lighttpd.conf', 'lighttpd'],
    ['apache/flask-fastcgi.conf', 'apache'],
    ['apache/mod-fcgid.conf', 'apache'],
  ])('%s is recognized as %s', (name, format) => {
    expect(detectFormat(fixture(name).text)).toBe(format);
  });

  it('--from overrides what the content looks like', () => {
    // A supervisord [program] running spawn-fcgi reads as supervisord, or as its command line.
    const text = '[program:php]\ncommand=/usr/bin/spawn-fcgi -n -s /run/php.sock -- /usr/bin/php-cgi\n';
    expect(detectFormat(text)).toBe('supervisord');
    expect(migrate('spawn-fcgi', text, '/etc/x.conf').pools).toEqual(['php']);
  });

  it('says when it cannot tell, with the --from to use', () => {
    expect(refused('hello world\n')).toBe(
      'app.conf: cannot tell which program this config is for; say it with --from supervisord|php-fpm|spawn-fcgi|lighttpd|apache',
    );
  });

  it("the CLI's list of formats is the importer's", () => {
    expect([...IMPORT_FORMATS]).toEqual([...FORMATS]);
  });

  it("every fixture imports into a config fcgid reads back the same through `fcgid check`'s view", () => {
    for (const name of ['supervisord/flask.conf', 'php-fpm/www.conf', 'spawn-fcgi/php-fcgi.service', 'lighttpd/lighttpd.conf', 'apache/mod-fcgid.conf']) {
      const r = imported(name);
      expect(r.config.pools.map((p) => p.name)).toEqual(r.pools);
    }
  });
});

describe('hostile input', () => {
  it('a listen address fcgid cannot take (port 99999) becomes fcgid\'s own socket and a note, so the output still passes fcgid check', () => {
    const out = migrate(null, '[www]\nlisten = 127.0.0.1:99999\npm = static\npm.max_children = 2\n', '/etc/php/fpm.conf');
    expect(out.yaml).toContain('listen: unix:/run/fcgid/www.sock');
    expect(out.notes.join('\n')).toMatch(/port must be 1-65535, got 99999; this pool listens on unix:\/run\/fcgid\/www\.sock instead/);
    expect(parseConfig(out.yaml, '/etc/fcgid/app.yaml', { uid: 0, env: {} }).pools[0]!.listen).toEqual({ kind: 'unix', path: '/run/fcgid/www.sock' });
  });

  it('a directive continued over 8000 lines, and 30,000 settings that are not FastCGI\'s, are read through: the pool they hold, or that follows them, comes out', () => {
    const long = migrate('apache', `FastCgiServer /srv/app.fcgi${' \\\n -initial-env A=1'.repeat(8000)}\n`, '/etc/apache2/a.conf');
    expect(long.pools).toEqual(['app']);
    const many = migrate('lighttpd', `${Array.from({ length: 30_000 }, (_, i) => `foo.bar${i} = "x"`).join('\n')}\nfastcgi.server = ( "/x" => (( "bin-path" => "/bin/x", "socket" => "/run/x.sock" )) )\n`, '/etc/l.conf');
    expect(many.pools).toEqual(['x']);
  });

  it('a supervisord %(name)Ns of 300 million is left unpadded, not made', () => {
    const out = migrate(null, '[fcgi-program:x]\ncommand=/bin/x %(program_name)300000000s\nsocket=unix:///run/x.sock\n', '/etc/app.conf');
    expect(out.yaml).toMatch(/command: \[\/bin\/x, x\]/);
  });

  it.each([
    [
      'a file past 1 MiB',
      `[fcgi-program:x]\n;${'x'.repeat(1024 * 1024)}\n`,
      null,
      /^app\.conf: the file is 1,048,59\d bytes; fcgid import reads at most 1,048,576 \(1 MiB\): give it the config file itself$/,
    ],
    ['binary junk', '[fcgi-program:x]\ncommand=/bin/x\n\x7fELF\x02\x01\x01\x00\x00', null, /^app\.conf:3: binary data \(byte 0x7f\), not a config file/],
    [
      'an unterminated section header',
      '[fcgi-program:x\ncommand=/bin/x\n',
      null,
      /^app\.conf:1: the section header "\[fcgi-program:x" has no closing \]; write it as \[name\]$/,
    ],
    [
      'an unterminated quote in environment=',
      '[fcgi-program:x]\ncommand=/bin/x\nsocket=unix:///run/x.sock\nenvironment=A="1,B=2\n',
      null,
      /^app\.conf:4: environment= opens a quote \(\"\) it never closes; close it$/,
    ],
    ['an unterminated quote in command=', '[fcgi-program:x]\ncommand=/bin/x "a\n', null, /^app\.conf:2: the command opens a quote it never closes; close it$/],
    [
      'a lighttpd string doubled by its variables (600 bytes standing for 200 MB)',
      `var.a = "xxxxxxxx"\n${'var.a = var.a + var.a\n'.repeat(24)}fastcgi.server = ( "/x" => (( "bin-path" => var.a, "socket" => "/run/x.sock" )) )\n`,
      'lighttpd',
      /^app\.conf:\d+: its variables expand to more than 1,048,576 bytes \(1 MiB\); no lighttpd config holds that much$/,
    ],
    [
      'lighttpd lists of two of the one before',
      `var.a0 = ( "x" )\n${Array.from({ length: 40 }, (_, i) => `var.a${i + 1} = ( var.a${i}, var.a${i} )\n`).join('')}fastcgi.server = ( "/x" => (( "bin-path" => "/bin/x", "socket" => "/run/x.sock", "bin-environment" => var.a40 )) )\n`,
      'lighttpd',
      /^app\.conf:\d+: its variables expand to more than 1,048,576 bytes/,
    ],
    ['a setting outside any section', 'command=/bin/x\n[fcgi-program:x]\n', 'supervisord', /^app\.conf:1: "command=\/bin\/x" comes before any \[section\]/],
    ['a line that is no setting', '[fcgi-program:x]\ncommand=/bin/x\njunk\n', null, /^app\.conf:3: "junk" is not a setting \(key = value\) nor a \[section\]/],
    [
      'an fcgi-program with no command',
      '[fcgi-program:x]\nsocket=unix:///run/x.sock\n',
      null,
      /^app\.conf:1: \[fcgi-program:x\] has no command=; supervisord would refuse it too$/,
    ],
    [
      'php-fpm: an unterminated quoted value',
      '[www]\nlisten = "/run/x.sock\npm = static\n',
      'php-fpm',
      /^app\.conf:2: the value "\\"\/run\/x.sock" opens a quote it never closes; close it on the same line$/,
    ],
    [
      'lighttpd: an unterminated string',
      'fastcgi.server = ( "/x" => (( "bin-path" => "/a ))\n',
      null,
      /^app\.conf:1: a string opened here is never closed; add the closing "$/,
    ],
    [
      'lighttpd: an unclosed list',
      'fastcgi.server = ( "/x" => (( "bin-path" => "/a" ))\n',
      null,
      /^app\.conf:1: the file ends where \) closing the \( on line 1 was expected/,
    ],
    ['lighttpd: nesting 100,000 deep', `fastcgi.server = ${'('.repeat(100_000)}`, null, /^app\.conf:1: nested more than 64 levels deep/],
    ['lighttpd: a stray }', 'fastcgi.server = ( )\n}\n', null, /^app\.conf:2: a } that closes no block; remove it$/],
    ['lighttpd: an unexpected character', 'fastcgi.server = ( "/x" => ( @ ) )\n', null, /^app\.conf:1: unexpected "@"/],
    [
      'Apache: a section never closed',
      '<VirtualHost *:80>\nFastCgiServer /a.fcgi\n',
      null,
      /^app\.conf:1: <VirtualHost \*:80> is never closed; add <\/VirtualHost>$/,
    ],
    [
      'Apache: the wrong closing tag',
      '<VirtualHost *:80>\nFastCgiServer /a.fcgi\n</Directory>\n',
      null,
      /^app\.conf:3: <\/Directory> closes <VirtualHost>, opened on line 1; close that one first with <\/VirtualHost>$/,
    ],
    ['Apache: an unterminated quote', 'FastCgiServer "/a.fcgi\n', null, /^app\.conf:1: a " opened here is never closed; close it$/],
    ['Apache: sections 100 deep', `${'<Directory />\n'.repeat(100)}FastCgiServer /a\n`, null, /^app\.conf:65: sections nested more than 64 deep/],
    ['spawn-fcgi: no command line', 'echo hi\n', 'spawn-fcgi', /^app\.conf: no spawn-fcgi command line found/],
    [
      'spawn-fcgi: an unterminated quote',
      'spawn-fcgi -s /x.sock -- "php\n',
      null,
      /^app\.conf:1: the spawn-fcgi command line opens a quote it never closes; close it$/,
    ],
    ['spawn-fcgi: an option without its value', 'spawn-fcgi -s /x.sock -p\n', null, /^app\.conf:1: spawn-fcgi's -p needs a value/],
    ['spawn-fcgi: an unknown option', 'spawn-fcgi -s /x.sock -Z -- php-cgi\n', null, /^app\.conf:1: -Z is not a spawn-fcgi option/],
    ['spawn-fcgi: no program', 'spawn-fcgi -s /x.sock\n', null, /^app\.conf:1: spawn-fcgi names no program/],
  ] as Array<[string, string, Format | null, RegExp]>)('%s: one line naming the file, the line and the fix', (_what, text, format, message) => {
    const m = refused(text, '/etc/app/app.conf', format);
    expect(m).toMatch(message);
    expect(m).not.toContain('\n');
  });

  it('more pools than fcgid runs in one config is refused, naming the line', () => {
    const text = Array.from({ length: 1001 }, (_, i) => `[fcgi-program:p${i}]\ncommand=/bin/x\nsocket=unix:///run/p${i}.sock\n`).join('');
    expect(refused(text)).toBe('app.conf:3001: more than 1,000 pools; fcgid runs at most that many per config: split the file and import each part');
  });

  // Every fixture with bytes deleted, repeated and replaced at random (a fixed seed): each
  // outcome is a MigrateError or YAML that parses, and fcgid's reader says what it thinks of it.
  it.each(FORMATS)('mutated %s input: a MigrateError or YAML, never another exception', (format) => {
    const source = {
      supervisord: 'supervisord/flask.conf',
      'php-fpm': 'php-fpm/www.conf',
      'spawn-fcgi': 'spawn-fcgi/php-fcgi.service',
      lighttpd: 'lighttpd/lighttpd.conf',
      apache: 'apache/mod-fcgid.conf',
    }[format];
    const text = fixture(source).text;
    let seed = 12345;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const junk = '"\'()[]{}<>=:;,#%$\\\n \t/-.0123456789abcXYZ';
    for (let round = 0; round < 150; round++) {
      let t = text;
      for (let k = 0; k < 1 + random(6); k++) {
        const at = random(t.length);
        const op = random(3);
        if (op === 0) t = t.slice(0, at) + t.slice(at + 1 + random(20));
        else if (op === 1) t = t.slice(0, at) + t.slice(at, at + random(40)).repeat(2) + t.slice(at);
        else t = t.slice(0, at) + junk[random(junk.length)]! + t.slice(at + 1);
      }
      try {
        const out = migrate(format, t, '/etc/app/app.conf');
        expect(parseDocument(out.yaml).errors).toEqual([]);
        try {
          parseConfig(out.yaml, '/etc/fcgid/x.yaml');
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
        }
      } catch (err) {
        if (!(err instanceof MigrateError)) throw new Error(`round ${round}: ${(err as Error).stack}\ninput:\n${t}`);
        expect(err.message).toMatch(/^app\.conf(:\d+)?: /);
      }
    }
  });
});
