// php-fpm → fcgid. Each [pool] becomes a pool of php-cgi processes, one per
// worker (PHP_FCGI_CHILDREN "0"): fcgid is the process manager php-fpm's `pm`
// was. php_value / php_admin_value become php-cgi `-d name=value` arguments,
// pm.max_requests becomes PHP_FCGI_MAX_REQUESTS, and $pool is substituted.
// [global] and what php-cgi cannot do become comments.

import { LIMITS } from '../config/types.js';
import { Draft, defaultSocket, parseInteger, type PoolDraft } from './draft.js';
import { readIni, type IniEntry, type IniSection } from './ini.js';
import { fpmSeconds, size } from './php-fpm-pm.js';

const PHP_CGI = '/usr/bin/php-cgi';

const STATUS_ADVICE =
  '`fcgictl status POOL` shows every worker (busy or idle, for how long), and GET /metrics on the control socket or metrics.listen serves them to Prometheus';
const LOG_ADVICE = "fcgid logs the workers' stderr line by line (log.file, or the journal): nothing to set";
const PHP_INI_ADVICE = (version: string | null): string =>
  `php-cgi reads ${version ? `/etc/php/${version}/cgi/php.ini` : "the CGI SAPI's php.ini"}, not php-fpm's: compare the two, or add -c ${version ? `/etc/php/${version}/fpm/php.ini` : '/path/to/fpm/php.ini'} to command`;

export function fromPhpFpm(text: string, file: string): Draft {
  const draft = new Draft('php-fpm', file);
  const sections = readIni(text, file, 'php');
  const global = sections.filter((s) => s.name === 'global');
  // process_control_timeout is php-fpm's grace for its children on a stop: every pool's stop_timeout.
  let controlTimeout: IniEntry | null = null;
  for (const s of global) {
    for (const e of s.entries) {
      if (e.key === 'process_control_timeout') controlTimeout = e;
      else if (e.key === 'include')
        draft.note(e.line, `include = ${e.value}`, 'fcgid import reads one file: import each included pool file as well and put their pools in one config');
      else {
        draft.note(
          e.line,
          e.key,
          "php-fpm's own daemon settings (pid file, error log, restart thresholds, daemonize): fcgid runs in the foreground under systemd, logs to log.file or the journal, and restarts each worker itself",
        );
      }
    }
  }
  const version = phpVersion(file, sections);
  for (const s of sections) if (s.name !== 'global') pool(draft, s, controlTimeout, version);
  return draft;
}

/** The PHP version a Debian path names (/etc/php/8.2/fpm/…, php8.2-fpm.sock), for the php.ini note. */
function phpVersion(file: string, sections: IniSection[]): string | null {
  const m = /\/php\/(\d+\.\d+)\//.exec(file) ?? /php(\d+\.\d+)-fpm/.exec(sections.flatMap((s) => s.entries.map((e) => e.value)).join('\n'));
  return m ? m[1]! : null;
}

/** php-fpm's booleans. */
const yes = (v: string): boolean => /^(yes|on|true|1)$/i.test(v.trim());

function pool(draft: Draft, section: IniSection, controlTimeout: IniEntry | null, version: string | null): void {
  const name = section.name;
  const p = draft.addPool(name, `php-fpm pool [${name}] (line ${section.line})`, section.line);
  // $pool is the pool's name wherever it appears (php-fpm's fpm_conf.c).
  const entries = section.entries.map((e) => ({ ...e, value: e.value.replace(/\$pool\b/g, name) }));
  const last = new Map(entries.map((e) => [e.key, e]));
  const get = (key: string): IniEntry | undefined => last.get(key);
  const args: string[] = [];
  p.setEnv('PHP_FCGI_CHILDREN', '0', 'one php-cgi per worker: fcgid is the process manager');
  let clearEnv = true;
  /** env[NAME] = $NAME: passed from fcgid's environment, which only matters with clear_env. */
  const passed: string[] = [];

  for (const e of entries) {
    if (last.get(e.key) !== e) continue;
    const at = `${e.key} = ${e.value}`;
    const ini = /^(php_value|php_flag|php_admin_value|php_admin_flag)\[(.+)\]$/.exec(e.key);
    const env = /^env\[(.+)\]$/.exec(e.key);
    if (ini) {
      args.push('-d', `${ini[2]}=${e.value}`);
      if (ini[1]!.startsWith('php_admin')) {
        p.note(
          e.line,
          e.key,
          'a -d argument here, as if in php.ini; php_admin_value also kept scripts from changing it with ini_set(), which php-cgi cannot: if that matters, add ini_set to disable_functions',
        );
      }
      continue;
    }
    if (env) {
      // php-fpm: a value starting with $ is taken from php-fpm's own environment.
      const from = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(e.value);
      if (from && from[1] === env[1]) passed.push(env[1]!);
      else if (from)
        p.note(e.line, at, `php-fpm copied $${from[1]} from its own environment; fcgid passes variables by their own name only (pass_env): write the value in`);
      else p.setEnv(env[1]!, e.value);
      continue;
    }
    switch (e.key) {
      case 'listen':
        listen(p, e);
        break;
      case 'listen.owner':
        p.set('socket_owner', e.value, e.key);
        break;
      case 'listen.group':
        p.set('socket_group', e.value, e.key);
        break;
      case 'listen.mode':
        p.mode('socket_mode', e.value, e.key, e.line);
        break;
      case 'listen.backlog':
        if (e.value.trim() === '-1')
          p.note(e.line, at, "-1 is the kernel's maximum (net.core.somaxconn); fcgid's default backlog 511 is php-fpm's own default");
        else p.integer('backlog', e.value, e.key, e.line, 1, LIMITS.backlog);
        break;
      case 'listen.allowed_clients': {
        const list = e.value
          .split(',')
          .map((a) => a.trim())
          .filter(Boolean);
        if (list.length > 0) p.set('allowed_clients', list, e.key);
        break;
      }
      case 'listen.acl_users':
      case 'listen.acl_groups':
        p.note(e.line, at, 'fcgid sets no POSIX ACL on the socket: give access through socket_group and socket_mode "0660"');
        break;
      case 'user':
      case 'group':
        p.set(e.key, e.value, e.key);
        break;
      case 'chdir':
        p.set('cwd', e.value, e.key);
        break;
      case 'clear_env':
        clearEnv = yes(e.value);
        break;
      case 'request_terminate_timeout':
        timeout(p, e);
        break;
      case 'pm':
      case 'pm.max_children':
      case 'pm.start_servers':
      case 'pm.min_spare_servers':
      case 'pm.max_spare_servers':
      case 'pm.process_idle_timeout':
        break; // below, together
      case 'pm.max_requests': {
        const n = parseInteger(e.value);
        if (n === null) p.note(e.line, at, 'expected a number of requests; left out');
        else p.setEnv('PHP_FCGI_MAX_REQUESTS', String(n), `pm.max_requests${n === 0 ? ' (0: never)' : ''}`);
        break;
      }
      case 'pm.max_spawn_rate':
        p.note(e.line, at, 'fcgid starts 1, then twice as many workers at each scan while every worker is busy (up to 32 at once), never past max_workers');
        break;
      case 'pm.status_path':
      case 'pm.status_listen':
      case 'ping.path':
      case 'ping.response':
        p.note(e.line, at, e.key.startsWith('ping') ? '`fcgictl ping POOL` checks that a worker answers FastCGI requests' : STATUS_ADVICE);
        break;
      case 'slowlog':
      case 'request_slowlog_timeout':
      case 'request_slowlog_trace_depth':
        p.note(
          e.line,
          at,
          'fcgid keeps no slow-request log with PHP backtraces: `fcgictl status POOL` shows each busy worker and for how long, and idle_timeout stops one that hangs; for backtraces use a PHP profiler',
        );
        break;
      case 'access.log':
      case 'access.format':
        p.note(e.line, at, "the web server's access log records every request; fcgid keeps none");
        break;
      case 'catch_workers_output':
      case 'decorate_workers_output':
        p.note(e.line, at, LOG_ADVICE);
        break;
      case 'rlimit_files':
      case 'rlimit_core':
        p.note(e.line, at, `workers inherit fcgid's limits: set ${e.key === 'rlimit_files' ? 'LimitNOFILE=' : 'LimitCORE='} in fcgid's systemd unit`);
        break;
      case 'chroot':
        p.note(
          e.line,
          at,
          'fcgid does not chroot workers: run them as a user that can read only what it must (user, group), or use systemd RootDirectory= for all of fcgid',
        );
        break;
      case 'security.limit_extensions':
        p.note(
          e.line,
          at,
          'php-cgi runs whatever SCRIPT_FILENAME names: keep the web server passing only .php files (fcgid web-config writes it so) and set cgi.fix_pathinfo=0',
        );
        break;
      case 'process.priority':
        p.note(e.line, at, "workers inherit fcgid's priority: set Nice= in fcgid's systemd unit");
        break;
      default:
        p.note(e.line, at, 'not a php-fpm pool setting fcgid knows; left out');
    }
  }

  p.set('command', [PHP_CGI, ...args], args.length > 0 ? 'php-fpm ran PHP itself; php_value and php_admin_value as -d' : 'php-fpm ran PHP itself');
  p.note(null, '', PHP_INI_ADVICE(version));
  if (clearEnv) p.set('clear_env', true, get('clear_env') ? 'clear_env' : "php-fpm's default clear_env = yes");
  if (clearEnv && passed.length > 0) p.set('pass_env', [...new Set(passed)], 'env[NAME] = $NAME');
  if (!get('listen')) {
    p.set('listen', defaultSocket(p.name));
    p.note(
      section.line,
      'listen',
      `the pool names no listen address (php-fpm requires one); fcgid listens on ${defaultSocket(p.name)}: point the web server there`,
    );
  }
  size(p, get);
  if (controlTimeout) {
    const s = fpmSeconds(controlTimeout.value);
    if (s !== null && s > 0) p.seconds('stop_timeout', s, '[global] process_control_timeout', controlTimeout.line);
  }
  p.web.mount = '/';
  p.web.kind = 'php';
  if (!get('chdir')) {
    p.note(
      null,
      '',
      "web.root is the document root, where SCRIPT_FILENAME points (php-fpm never knew it: the web server sent it). It defaults to cwd: set it to the web server's root",
    );
  }
  if (p.webServer.length === 0) {
    p.webServer.push(
      `it keeps talking to ${String(p.get('listen'))}, php-fpm's socket: nothing changes there (nginx's fastcgi_pass, Apache's SetHandler "proxy:…" stay as they are).`,
    );
  }
}

/** listen = /path, host:port, [::1]:port, or a bare port (every address). */
function listen(p: PoolDraft, e: IniEntry): void {
  const v = e.value.trim();
  // Debian and Ubuntu make /run/php www-data's (tmpfiles.d), and fcgid binds no socket in a
  // directory another user can write (docs/security.md): the pool moves to fcgid's directory.
  if (/^\/(var\/)?run\/php\//.test(v)) {
    const socket = defaultSocket(p.name).slice('unix:'.length);
    p.set('listen', `unix:${socket}`, `php-fpm's was ${v}`);
    p.webServer.push(
      `php-fpm's socket ${v} is in /run/php, which Debian and Ubuntu give to www-data; fcgid binds no socket in a directory another user can write, so it listens on ${socket}: change nginx's \`fastcgi_pass unix:${v};\` or Apache's \`SetHandler "proxy:unix:${v}|fcgi://localhost"\` to name ${socket} (\`fcgid web-config nginx|apache -c FILE\` prints the lines).`,
    );
    return;
  }
  if (v.startsWith('/')) return p.set('listen', `unix:${v}`, 'listen');
  if (/^\d{1,5}$/.test(v)) {
    p.set('listen', `tcp://[::]:${v}`, 'listen (a port alone: every address)');
    p.note(
      e.line,
      `listen = ${v}`,
      'php-fpm listened on every address, and fcgid does the same here: write tcp://127.0.0.1:PORT if the web server is on this machine',
    );
    return;
  }
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]/\s]+):(\d{1,5})$/.exec(v);
  if (m) return p.set('listen', `tcp://${m[1]}:${m[2]}`, 'listen');
  p.set('listen', defaultSocket(p.name));
  p.note(e.line, `listen = ${v}`, `expected a path, HOST:PORT or a port; fcgid listens on ${defaultSocket(p.name)} instead: point the web server there`);
}

function timeout(p: PoolDraft, e: IniEntry): void {
  const s = fpmSeconds(e.value);
  if (s === null) return p.note(e.line, `request_terminate_timeout = ${e.value}`, 'expected seconds (or 30s, 5m, 1h); left out');
  if (s === 0) return;
  p.seconds('idle_timeout', s, 'request_terminate_timeout', e.line);
  p.note(
    e.line,
    `request_terminate_timeout = ${e.value}`,
    "as idle_timeout, counted as silence: a request that keeps reading or writing is never stopped (docs/timeouts.md); PHP's max_execution_time still bounds the script itself",
  );
}
