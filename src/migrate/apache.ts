// Apache → fcgid: mod_fastcgi's FastCgiServer (a static application Apache
// starts), mod_fcgid's FcgidWrapper and .fcgi scripts under `AddHandler
// fcgid-script`, each a pool. ScriptAlias / Alias naming the program gives
// web.mount (Flask's guide: `ScriptAlias / /var/www/…/app.fcgi/` is mount /).
// Apache then stops starting these programs and forwards to fcgid's socket;
// each pool says how. FastCgiExternalServer is already external.

import { posix } from 'node:path';
import { splitCommand } from '../config/command.js';
import { LIMITS } from '../config/types.js';
import { Draft, defaultSocket, parseInteger, type PoolDraft } from './draft.js';
import { FCGID_APACHE_SIDE, FCGID_BOOKKEEPING, FCGID_CLASS, applies, fcgidClass } from './apache-fcgid.js';
import { parseApache, type Directive } from './apache-parse.js';
import { isPhpCgi, nameFromCommand } from './text.js';

const ALIASES = new Set(['scriptalias', 'alias']);
const WEB_CONFIG = '`fcgid web-config apache -c FILE` prints the mod_proxy_fcgi lines that replace it';

export function fromApache(text: string, file: string): Draft {
  const all = parseApache(text, file);
  const draft = new Draft('apache', file);
  const done = new Set<string>();
  for (const d of all) {
    if (d.key === 'fastcgiserver' && d.args[0]) fastCgiServer(draft, d, all, done);
    else if (d.key === 'fcgidwrapper' && d.args[0]) fcgidWrapper(draft, d, all, done);
  }
  scripts(draft, all, done);
  fileNotes(draft, all);
  // Apache made these sockets for itself; now fcgid makes them, and Apache's group must be able to connect.
  const group = all.filter((d) => d.key === 'group' && d.args[0] && !d.args[0].includes('$')).at(-1);
  for (const pool of draft.pools) {
    if (String(pool.get('listen')).startsWith('unix:')) pool.openTo(group?.args[0] ?? 'www-data', group ? 'Group' : 'the group Apache runs as on Debian');
  }
  return draft;
}

/** The URL a program is reached at: a ScriptAlias/Alias naming it (its trailing / is PATH_INFO), or its place under DocumentRoot. */
function urlOf(path: string, all: Directive[]): { url: string; line: number } | null {
  const alias = all.find((d) => ALIASES.has(d.key) && d.args.length >= 2 && d.args[1]!.replace(/\/+$/, '') === path);
  if (alias) return { url: alias.args[0]!, line: alias.line };
  const root = all.find((d) => d.key === 'documentroot' && d.args[0] && path.startsWith(`${d.args[0].replace(/\/+$/, '')}/`));
  return root ? { url: path.slice(root.args[0]!.replace(/\/+$/, '').length), line: root.line } : null;
}

/** PHP through mod_fastcgi's Action chain: AddHandler H .php, Action H /url, Alias /url PATH. */
function servesPhp(path: string, all: Directive[]): boolean {
  const url = all.find((d) => ALIASES.has(d.key) && d.args[1]?.replace(/\/+$/, '') === path)?.args[0];
  if (!url) return false;
  const handler = all.find((d) => d.key === 'action' && d.args[1] === url)?.args[0];
  return handler !== undefined && all.some((d) => d.key === 'addhandler' && d.args[0] === handler && d.args.includes('.php'));
}

function mountAndKind(pool: PoolDraft, path: string, command: string[], all: Directive[], from: Directive): boolean {
  const php = isPhpCgi(command[0]!) || servesPhp(path, all);
  pool.web.kind = php ? 'php' : 'app';
  if (php) {
    pool.web.mount = '/';
    const root = all.find((d) => d.key === 'documentroot' && d.args[0] && applies(d, from.scope)) ?? all.find((d) => d.key === 'documentroot' && d.args[0]);
    if (root) pool.root(root.args[0]!, 'DocumentRoot', root.line);
    return true;
  }
  const at = urlOf(path, all);
  if (at) pool.mount(at.url, 'ScriptAlias', at.line);
  else pool.note(from.line, path, 'no ScriptAlias or Alias names it and it is not under DocumentRoot: set web.mount to the URL it answers at');
  // Alias /app/static /srv/app/static: files Apache serves itself, under the app's URL.
  const mount = pool.web.mount ?? '/';
  for (const a of all.filter((d) => d.key === 'alias' && d.args.length >= 2 && d.args[1]!.replace(/\/+$/, '') !== path)) {
    const url = a.args[0]!.replace(/\/+$/, '');
    if (url !== '' && url !== mount && (mount === '/' || url.startsWith(`${mount}/`))) pool.staticDir(a.args[0]!, a.args[1]!, 'Alias', a.line);
  }
  return false;
}

/** FastCgiServer PATH [-option value …] (mod_fastcgi). */
function fastCgiServer(draft: Draft, d: Directive, all: Directive[], done: Set<string>): void {
  const path = d.args[0]!;
  done.add(path);
  const pool = draft.addPool(nameFromCommand([path]), `FastCgiServer (line ${d.line})`, d.line);
  pool.set('command', [path], 'FastCgiServer');
  pool.set('cwd', posix.dirname(path), "mod_fastcgi runs it in the program's directory");
  let port: string | null = null;
  for (let i = 1; i < d.args.length; i++) {
    const option = d.args[i]!;
    const flag = option === '-flush' || option === '-nph';
    const value = flag ? '' : (d.args[++i] ?? '');
    const at = `${option} ${value}`.trim();
    switch (option) {
      case '-processes':
        pool.integer('workers', value, '-processes', d.line, 1, LIMITS.workers);
        break;
      case '-idle-timeout': {
        const n = parseInteger(value);
        if (n === null) pool.note(d.line, at, 'expected seconds; left out');
        else pool.seconds('idle_timeout', n, '-idle-timeout', d.line);
        break;
      }
      case '-min-server-life': {
        const n = parseInteger(value);
        if (n !== null) pool.seconds('start_secs', n, '-min-server-life', d.line);
        break;
      }
      case '-listen-queue-depth':
        pool.integer('backlog', value, '-listen-queue-depth', d.line, 1, LIMITS.backlog);
        break;
      case '-initial-env': {
        const eq = value.indexOf('=');
        if (eq > 0) pool.setEnv(value.slice(0, eq), value.slice(eq + 1));
        else if (value) {
          // -initial-env NAME copies NAME from Apache's environment.
          pool.set('pass_env', [...((pool.get('pass_env') as string[] | undefined) ?? []), value], '-initial-env NAME');
        }
        break;
      }
      case '-user':
      case '-group':
        pool.set(option.slice(1) as 'user' | 'group', value, option);
        break;
      case '-port':
        port = value;
        break;
      case '-socket':
        pool.note(d.line, at, `a socket in mod_fastcgi's FastCgiIpcDir; fcgid's is ${defaultSocket(pool.name)}`);
        break;
      case '-restart-delay':
      case '-init-start-delay':
        pool.note(d.line, at, 'fcgid replaces a worker that dies after start_secs at once, and backs off (100 ms, doubling) one that dies sooner');
        break;
      case '-priority':
        pool.note(d.line, at, "workers inherit fcgid's priority: set Nice= in fcgid's systemd unit");
        break;
      default:
        pool.note(
          d.line,
          at,
          "Apache's side of a request (timeouts, headers, buffering): keep it on the Apache side; on a ProxyPass line, timeout= and CGIPassAuth On",
        );
    }
  }
  if (port !== null && /^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535) pool.set('listen', `tcp://127.0.0.1:${port}`, '-port');
  else pool.set('listen', defaultSocket(pool.name), 'mod_fastcgi made its own socket');
  const php = mountAndKind(pool, path, [path], all, d);
  const target = String(pool.get('listen')).startsWith('tcp://') ? `-host 127.0.0.1:${port}` : `-socket ${defaultSocket(pool.name).slice('unix:'.length)}`;
  pool.webServer.push(
    `Apache must stop starting it: replace \`FastCgiServer ${path} …\` (line ${d.line}) with \`FastCgiExternalServer ${path} ${target}\` and keep the ${php ? 'handler' : 'ScriptAlias'}; or, with mod_proxy_fcgi instead of mod_fastcgi, ${WEB_CONFIG}.`,
  );
}

/** FcgidWrapper COMMAND [SUFFIX] [virtual] (mod_fcgid): the wrapper serves every file it is the handler for. */
function fcgidWrapper(draft: Draft, d: Directive, all: Directive[], done: Set<string>): void {
  const command = splitCommand(d.args[0]!) ?? [d.args[0]!];
  const suffix = d.args.slice(1).find((a) => a.startsWith('.'));
  const key = `${command.join(' ')} ${suffix ?? ''}`;
  if (done.has(key)) return;
  done.add(key);
  const php = suffix === '.php' || isPhpCgi(command[0]!);
  const pool = draft.addPool(suffix ? suffix.slice(1) : nameFromCommand(command), `FcgidWrapper (line ${d.line})`, d.line);
  pool.set('command', command, 'FcgidWrapper');
  pool.set('listen', defaultSocket(pool.name), 'mod_fcgid made its own socket');
  fcgidClass(pool, all, d.scope, command[0]!, php);
  pool.web.mount = '/';
  pool.web.kind = php ? 'php' : 'app';
  const root = all.find((x) => x.key === 'documentroot' && x.args[0] && applies(x, d.scope)) ?? all.find((x) => x.key === 'documentroot' && x.args[0]);
  if (php && root) pool.root(root.args[0]!, 'DocumentRoot', root.line);
  if (d.args.includes('virtual'))
    pool.note(
      d.line,
      'FcgidWrapper … virtual',
      'mod_fcgid did not check that the requested file exists; the web server config fcgid web-config writes does not check either',
    );
  // php-cgi changes to the script's directory itself; another wrapper starts where fcgid starts it.
  if (!isPhpCgi(command[0]!)) {
    pool.note(
      d.line,
      `FcgidWrapper ${d.args[0]}`,
      "mod_fcgid ran the wrapper in the requested script's directory; fcgid runs it in cwd (the config's directory unless set)",
    );
  }
  pool.webServer.push(
    `Apache must stop starting it: remove \`FcgidWrapper ${d.args.join(' ')}\` (line ${d.line}) and the fcgid-script handler for it; ${WEB_CONFIG}.`,
  );
}

/** .fcgi programs mod_fcgid (or mod_fastcgi, as dynamic applications) started on first request, found through a ScriptAlias/Alias. */
function scripts(draft: Draft, all: Directive[], done: Set<string>): void {
  const handlers = all.filter((d) => (d.key === 'addhandler' || d.key === 'sethandler') && /^(fcgid|fastcgi)-script$/i.test(d.args[0] ?? ''));
  if (handlers.length === 0) return;
  const extensions = new Set(handlers.flatMap((h) => (h.key === 'addhandler' ? h.args.slice(1) : [])).map((e) => (e.startsWith('.') ? e : `.${e}`)));
  const anyFile = handlers.some((h) => h.key === 'sethandler');
  let found = 0;
  for (const a of all.filter((d) => ALIASES.has(d.key) && d.args.length >= 2)) {
    const path = a.args[1]!.replace(/\/+$/, '');
    const ext = posix.extname(path);
    if (ext === '' || !(extensions.has(ext) || anyFile)) continue;
    found++;
    if (done.has(path)) continue;
    done.add(path);
    const fcgid = handlers.some((h) => /^fcgid/i.test(h.args[0]!));
    const pool = draft.addPool(
      nameFromCommand([path]),
      `${fcgid ? 'mod_fcgid' : 'mod_fastcgi dynamic'} application ${path} (${a.name}, line ${a.line})`,
      a.line,
    );
    pool.set('command', [path], a.name);
    pool.set('cwd', posix.dirname(path), "Apache ran it in the program's directory");
    pool.set('listen', defaultSocket(pool.name), `${fcgid ? 'mod_fcgid' : 'mod_fastcgi'} made its own socket`);
    if (fcgid) fcgidClass(pool, all, a.scope, path, isPhpCgi(path));
    mountAndKind(pool, path, [path], all, a);
    pool.webServer.push(
      `Apache must stop starting it: replace \`${a.name} ${a.args.join(' ')}\` (line ${a.line}) and its ${fcgid ? 'fcgid' : 'fastcgi'}-script handler; ${WEB_CONFIG}.`,
    );
  }
  if (found === 0) {
    for (const h of handlers) {
      draft.note(
        h.line,
        `${h.name} ${h.args.join(' ')}`,
        'Apache started each such file on its first request; fcgid needs a pool per program, and no ScriptAlias or Alias here names one: add a pool (command, listen, web.mount) for each',
      );
    }
  }
}

/** Everything else that is about FastCGI, as comments at the top; other directives are Apache's business. */
function fileNotes(draft: Draft, all: Directive[]): void {
  const other = new Set<string>();
  for (const d of all) {
    const at = `${d.name} ${d.args.join(' ')}`.trim();
    if (d.key === 'loadmodule' && /^(fastcgi|fcgid)_module$/.test(d.args[0] ?? '')) {
      draft.note(d.line, at, 'once fcgid runs the programs, Apache only forwards requests: mod_proxy_fcgi (a2enmod proxy_fcgi) replaces this module');
    } else if (d.key === 'fastcgiexternalserver') {
      draft.note(
        d.line,
        at,
        'already external: Apache connects to a program something else starts (spawn-fcgi, supervisord, php-fpm); import that one, and Apache keeps this line with the same socket',
      );
    } else if (FCGID_APACHE_SIDE.has(d.key)) {
      draft.note(
        d.line,
        d.name,
        "Apache's side of a request (timeouts, sizes, headers): with mod_proxy_fcgi, set timeout= on the ProxyPass line, LimitRequestBody, and CGIPassAuth On",
      );
    } else if (FCGID_BOOKKEEPING.has(d.key)) {
      draft.note(d.line, d.name, "mod_fcgid's own bookkeeping (its socket directory, scan intervals, spawn scores): nothing to carry over");
    } else if (['scriptaliasmatch', 'aliasmatch', 'rewriterule'].includes(d.key) && /\.(fcgi|fcg|fpl)\b/.test(d.args.join(' '))) {
      draft.note(
        d.line,
        at,
        'a pattern fcgid import does not follow to a program: set web.mount of the pool it leads to by hand (fcgid web-config then writes the location)',
      );
    } else if (d.key === 'fcgidmaxprocesses') {
      draft.note(d.line, at, "fcgid has no cap across pools: each pool's max_workers bounds it; make their sum fit the machine");
    } else if (/^fcgid(authenticator|authorizer|accesschecker)/.test(d.key)) {
      draft.note(d.line, at, "fcgid runs responders; an authorizer stays with Apache's own module");
    } else if (d.key === 'fastcgiconfig' || d.key === 'fastcgiipcdir' || d.key === 'fastcgiwrapper' || d.key === 'fastcgisuexec') {
      draft.note(d.line, at, "mod_fastcgi's own process management (dynamic applications, IPC directory, suexec): fcgid's pools and user/group replace it");
    } else if (/^(fcgid|fastcgi)/.test(d.key) && !FCGID_CLASS.has(d.key) && !['fcgidwrapper', 'fcgidcmdoptions', 'fastcgiserver'].includes(d.key)) {
      draft.note(d.line, at, 'not a mod_fcgid or mod_fastcgi directive fcgid knows; left out');
    } else if (!/^(fcgid|fastcgi)/.test(d.key) && !ALIASES.has(d.key) && !['addhandler', 'sethandler', 'documentroot', 'action'].includes(d.key)) {
      other.add(d.name);
    }
  }
  if (other.size > 0) draft.note(null, [...other].slice(0, 12).join(', ') + (other.size > 12 ? ', …' : ''), "not about FastCGI: they stay in Apache's config");
}
