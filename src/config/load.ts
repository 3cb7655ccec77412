// Reads a config file into a typed Config with every default filled in. Every
// problem is collected (not just the first) with file, line, key path, what was
// found and what is expected; an unknown key names the nearest valid one.
// No side effects beyond reading the file. Work and memory are linear in the
// file's size, whatever it holds: the file, its nesting, its YAML aliases and
// every number have upper bounds (LIMITS in types.ts).

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, Scalar, YAMLMap, YAMLSeq, isAlias, isMap, isPair, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import { AddressError, formatAddress, parseAddress, type Address } from '../fastcgi/address.js';
import { splitCommand } from './command.js';
import { nearest } from './suggest.js';
import {
  LIMITS,
  LOG_LEVELS,
  POOL_DEFAULTS,
  APP_KINDS,
  RESTART_POLICIES,
  STOP_MODES,
  type AppKind,
  URL_PATH,
  UNSAFE_IN_WEB_CONFIG,
  POOL_NAME,
  type Config,
  type ControlConfig,
  type LogConfig,
  type MetricsConfig,
  type PoolConfig,
  type WebConfig,
} from './types.js';
import { parseDuration, parseMode, parseSignal, parseSize, type Parsed } from './units.js';
import { ConfigError, formatIssue, type ConfigIssue } from './errors.js';
import { defaultControlSocket } from './paths.js';

export { ConfigError, formatIssue, type ConfigIssue };

export interface LoadOptions {
  /** For the default control socket path; defaults to the running process's. */
  uid?: number;
  env?: NodeJS.ProcessEnv;
}

const TOP_KEYS = ['control', 'log', 'metrics', 'pools'] as const;
const METRICS_KEYS = ['listen'] as const;
const CONTROL_KEYS = ['socket', 'mode', 'group'] as const;
const LOG_KEYS = ['level', 'file'] as const;
const POOL_KEYS = ['command', 'listen', 'cwd', 'web', ...Object.keys(POOL_DEFAULTS)] as const;
const WEB_KEYS = ['mount', 'kind', 'root', 'static'] as const;


export function loadConfig(file: string, options: LoadOptions = {}): Config {
  const path = resolve(file);
  const text = readConfigText(path);
  return parseConfig(text, path, options);
}

/**
 * The control socket a config file names, read leniently: only the file must be
 * readable, not valid, so that fcgictl finds a running fcgid after its file was
 * broken by an edit (a reload then reports every problem). `given` is false
 * when the file leaves control.socket to its default, which depends on the
 * daemon's user.
 */
export function readControlSocket(file: string, options: LoadOptions = {}): { socket: string; given: boolean } {
  const path = resolve(file);
  const text = readConfigText(path);
  // Only the document's tree is looked at (aliases are not expanded): bounded by the file's size.
  let given: unknown;
  try {
    given = parseDocument(text, { prettyErrors: false, uniqueKeys: false }).getIn(['control', 'socket']);
  } catch {
    given = undefined;
  }
  if (typeof given === 'string' && given !== '') return { socket: isAbsolute(given) ? given : resolve(dirname(path), given), given: true };
  return { socket: defaultControlSocket(path, options.uid, options.env), given: false };
}

/** The file's text; a ConfigError when it cannot be read or is too big. */
function readConfigText(path: string): string {
  try {
    return readBounded(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError([{ file: path, line: null, path: '', message: e.code === 'EFBIG' ? e.message : `cannot read the config file: ${e.code ?? e.message}` }]);
  }
}

/**
 * The file's text, refused past LIMITS.configBytes before more than that is
 * read (an EFBIG error with the `size` seen); a pipe or a device is read up to the bound.
 */
export function readBounded(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const st = fstatSync(fd);
    // A pipe or a device (/dev/stdin, <(…)) says size 0: read it up to the bound.
    const buf = Buffer.alloc(st.isFile() ? Math.min(st.size, LIMITS.configBytes) + 1 : LIMITS.configBytes + 1);
    let n = 0;
    for (let got = -1; got !== 0 && n < buf.length; n += got) got = readSync(fd, buf, n, buf.length - n, null);
    if (n > LIMITS.configBytes) throw tooBig(st.isFile() ? st.size : n);
    return buf.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
}

function tooBig(size: number): NodeJS.ErrnoException & { size: number } {
  return Object.assign(new Error(`the file is ${size.toLocaleString('en-US')} bytes; a config may be at most ${LIMITS.configBytes.toLocaleString('en-US')} (1 MiB)`), { code: 'EFBIG', size });
}

export function parseConfig(text: string, file: string, options: LoadOptions = {}): Config {
  const lines = new LineCounter();
  const r = new Reader(file, lines);
  const bytes = Buffer.byteLength(text);
  if (bytes > LIMITS.configBytes) {
    r.error(null, '', tooBig(bytes).message);
    throw new ConfigError(r.finish());
  }
  // Duplicate keys are found by the reader: yaml's own check is quadratic in a mapping's size.
  let doc: Document;
  try {
    doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
  } catch (err) {
    r.error(null, '', `YAML: ${(err as Error).message}`);
    throw new ConfigError(r.finish());
  }
  for (const e of doc.errors) {
    const message = e.message.split('\n')[0]!;
    // yaml's composer recurses: nesting thousands deep exhausts the stack, and it says so.
    r.errorAt(e.pos[0], '', /call stack/i.test(message) ? 'YAML: nested too deep; nothing in a config nests deeper than a few levels' : `YAML: ${message}`);
  }
  if (r.issues.length > 0) throw new ConfigError(r.finish());
  // Anchors and aliases (`command: *php`) read as the node they name.
  resolveAliases(doc, r);
  if (r.issues.length > 0) throw new ConfigError(r.finish());

  const contents = doc.contents as Node | null;
  if (contents !== null && !isMap(contents) && !(isScalar(contents) && contents.value === null)) {
    // Nothing below can be read; one issue says so instead of a cascade of "missing" ones.
    r.error(contents, '', `expected a mapping with pools (and optionally control and log), got ${r.describe(contents)}`);
    throw new ConfigError(r.finish());
  }
  // An empty file reads as an empty mapping, so the one issue is the missing pools.
  const top = r.map(contents, '', TOP_KEYS, true);
  const dir = dirname(file);
  const control = readControl(r, top?.get('control'), file, options);
  const log = readLog(r, top?.get('log'), dir);
  const metrics = readMetrics(r, top?.get('metrics'), dir);
  const pools = readPools(r, top?.get('pools'), dir);
  checkSockets(r, top?.get('pools'), control, metrics, pools);
  if (r.issues.length > 0) throw new ConfigError(r.finish());
  return { file, control, log, metrics, pools };
}

/**
 * Aliases replaced by the node their anchor names, in one walk that never
 * descends into a node it reached through an alias: an "alias bomb" (each
 * level nine aliases of the one before) stays as small as its text, and the
 * reader, which reads only the keys it knows at the types it expects, never
 * walks the expansion either. What replaces an alias is a view of its target
 * (the same items) placed where the alias is written, so that a problem with
 * it is reported on the alias's line.
 */
function resolveAliases(doc: Document, r: Reader): void {
  const anchors = new Map<string, Node>();
  const view = (target: Node, at: Node['range']): Node => {
    let v: Node = target;
    if (isScalar(target)) {
      const s = new Scalar(target.value);
      s.source = target.source;
      v = s;
    } else if (isSeq(target)) {
      const q = new YAMLSeq();
      q.items = target.items;
      v = q;
    } else if (isMap(target)) {
      const m = new YAMLMap();
      m.items = target.items;
      v = m;
    }
    if (v !== target) v.range = at;
    return v;
  };
  const walk = (node: unknown, depth: number): unknown => {
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      if (!target) r.error(node as Node, '', `YAML: the alias *${node.source} names no anchor defined before it`);
      return target ? view(target, node.range) : null;
    }
    if (depth > LIMITS.depth) {
      r.error(node as Node, '', `YAML: nested more than ${LIMITS.depth} levels deep; nothing in a config nests deeper than a few`);
      return null;
    }
    if (isPair(node)) {
      node.key = walk(node.key, depth);
      node.value = walk(node.value, depth);
    } else if (isMap(node) || isSeq(node)) {
      for (let i = 0; i < node.items.length; i++) (node.items as unknown[])[i] = walk(node.items[i], depth + 1);
    }
    // After its children: an alias inside the node it names would be a cycle.
    if ((isMap(node) || isSeq(node) || isScalar(node)) && node.anchor) anchors.set(node.anchor, node);
    return node;
  };
  doc.contents = walk(doc.contents, 0) as Document['contents'];
}

// --- sections ---

function readControl(r: Reader, node: Node | undefined, file: string, options: LoadOptions): ControlConfig {
  const m = r.map(node, 'control', CONTROL_KEYS, true);
  const given = m?.get('socket');
  const socket = r.path(given, 'control.socket', dirname(file)) ?? defaultControlSocket(file, options.uid, options.env);
  r.unixPath(socket, given ?? null, 'control.socket', given ? 'choose a shorter path' : 'set control.socket to a shorter path');
  return {
    socket,
    mode: r.mode(m?.get('mode'), 'control.mode') ?? 0o600,
    group: r.string(m?.get('group'), 'control.group'),
  };
}

function readMetrics(r: Reader, node: Node | undefined, dir: string): MetricsConfig {
  const m = r.map(node, 'metrics', METRICS_KEYS, true);
  const listen = m?.get('listen');
  if (listen === undefined || (isScalar(listen) && listen.value === null)) return { listen: null };
  const address = r.address(listen, 'metrics.listen', null, dir);
  if (address?.kind === 'systemd') {
    r.error(listen, 'metrics.listen', 'expected tcp://HOST:PORT or unix:/path; systemd:NAME is for pools');
    return { listen: null };
  }
  return { listen: address };
}

function readLog(r: Reader, node: Node | undefined, dir: string): LogConfig {
  const m = r.map(node, 'log', LOG_KEYS, true);
  return {
    level: r.oneOf(m?.get('level'), 'log.level', LOG_LEVELS) ?? 'info',
    file: r.path(m?.get('file'), 'log.file', dir),
  };
}

const NO_POOLS = 'expected at least one pool, e.g. pools: { app: { command: [...], listen: unix:/run/app.sock } }';

function readPools(r: Reader, node: Node | undefined, dir: string): PoolConfig[] {
  if (node === undefined || (isScalar(node) && node.value === null)) {
    r.error(node ?? null, 'pools', NO_POOLS);
    return [];
  }
  if (!isMap(node)) {
    r.error(node, 'pools', `expected a mapping of pool names to pools, got ${r.describe(node)}`);
    return [];
  }
  if (node.items.length === 0) {
    r.error(node, 'pools', NO_POOLS);
    return [];
  }
  if (r.tooMany(node, 'pools', node.items.length, LIMITS.pools, 'pools') || !r.spend(node.items.length, node, 'pools')) return [];
  const pools: PoolConfig[] = [];
  const names = new Set<string>();
  for (const pair of node.items) {
    const keyNode = pair.key as Scalar;
    const name = r.key(keyNode, 'pools');
    if (name === null) continue;
    const at = `pools.${name}`;
    if (!POOL_NAME.test(name) || name === '.' || name === '..' || name.length > LIMITS.poolName) {
      r.error(keyNode, at, `a pool name is 1 to ${LIMITS.poolName} letters, digits, "_", "." and "-", and not "." or ".." (it is a path segment of the control API)`);
      continue;
    }
    if (names.has(name)) {
      r.error(keyNode, at, `duplicate key "${name}"; a key may appear once in a mapping`);
      continue;
    }
    names.add(name);
    const pool = readPool(r, pair.value as Node | null, keyNode, at, name, dir);
    if (pool) pools.push(pool);
  }
  return pools;
}

/**
 * Two sockets that are one: the same unix path, the same TCP port on the same
 * address, or on any address when either is a wildcard (0.0.0.0 and :: overlap
 * on Linux); and a pool on the control socket or the metrics socket. Host names
 * are compared as written (they are resolved at start-up).
 */
function checkSockets(r: Reader, node: Node | undefined, control: ControlConfig, metrics: MetricsConfig, pools: PoolConfig[]): void {
  const listenNode = (name: string): Node | null => ((isMap(node) ? (node.get(name) as YAMLMap | undefined)?.get('listen', true) : null) as Node | null | undefined) ?? null;
  const wildcard = (host: string): boolean => host === '0.0.0.0' || host === '::';
  const clash = (a: Address, b: Address): boolean =>
    (a.kind === 'unix' && b.kind === 'unix' && a.path === b.path) ||
    (a.kind === 'tcp' && b.kind === 'tcp' && a.port === b.port && (a.host === b.host || wildcard(a.host) || wildcard(b.host))) ||
    (a.kind === 'systemd' && b.kind === 'systemd' && a.name === b.name);
  const control_: Address = { kind: 'unix', path: control.socket };
  pools.forEach((p, i) => {
    const at = `pools.${p.name}.listen`;
    if (clash(p.listen, control_)) r.error(listenNode(p.name), at, `${formatAddress(p.listen)} is the control socket (control.socket); give the pool its own`);
    else if (metrics.listen && clash(p.listen, metrics.listen)) r.error(listenNode(p.name), at, `${formatAddress(p.listen)} is metrics.listen; give the pool its own`);
    const other = pools.slice(0, i).find((q) => clash(q.listen, p.listen));
    if (other) r.error(listenNode(p.name), at, `${formatAddress(p.listen)} is already the listen address of pool ${other.name}${formatAddress(other.listen) === formatAddress(p.listen) ? '' : ` (${formatAddress(other.listen)})`}`);
  });
}

function readPool(r: Reader, node: Node | null, keyNode: Node, at: string, name: string, dir: string): PoolConfig | null {
  const m = r.map(node, at, POOL_KEYS);
  if (!m) return null;
  // A copy: pools must not share (and so cannot corrupt) the default env and lists.
  const d = structuredClone(POOL_DEFAULTS);
  // A missing key is reported on the pool's name line, where it belongs.
  const command = r.command(m.get('command'), `${at}.command`, keyNode);
  const listen = r.address(m.get('listen'), `${at}.listen`, keyNode, dir);
  const socketFd = r.integer(m.get('socket_fd'), `${at}.socket_fd`, 0, LIMITS.socketFd) ?? d.socket_fd;
  if (socketFd === 1 || socketFd === 2) {
    r.error(
      m.get('socket_fd')!,
      `${at}.socket_fd`,
      `expected 0 (FastCGI programs) or 3 and above (Node workers), got ${socketFd}, the worker's ${socketFd === 1 ? 'stdout' : 'stderr'}`,
    );
  }
  const pool: PoolConfig = {
    name,
    command: command ?? [],
    // Workers run where the config lives unless told otherwise, so relative
    // paths in `command` mean the same as every other relative path in the file.
    cwd: r.path(m.get('cwd'), `${at}.cwd`, dir) ?? dir,
    user: r.string(m.get('user'), `${at}.user`) ?? d.user,
    group: r.string(m.get('group'), `${at}.group`) ?? d.group,
    umask: r.mode(m.get('umask'), `${at}.umask`) ?? d.umask,
    env: r.stringMap(m.get('env'), `${at}.env`) ?? d.env,
    clear_env: r.boolean(m.get('clear_env'), `${at}.clear_env`) ?? d.clear_env,
    pass_env: r.stringList(m.get('pass_env'), `${at}.pass_env`) ?? d.pass_env,
    listen: listen ?? { kind: 'unix', path: '' },
    socket_fd: socketFd,
    socket_mode: r.mode(m.get('socket_mode'), `${at}.socket_mode`) ?? d.socket_mode,
    ...readSocketOwner(r, m, at),
    backlog: r.integer(m.get('backlog'), `${at}.backlog`, 1, LIMITS.backlog) ?? d.backlog,
    allowed_clients: r.stringList(m.get('allowed_clients'), `${at}.allowed_clients`) ?? d.allowed_clients,
    ...readSize(r, m, at, d.workers),
    spare_idle_timeout: r.duration(m.get('spare_idle_timeout'), `${at}.spare_idle_timeout`) ?? d.spare_idle_timeout,
    idle_timeout: r.duration(m.get('idle_timeout'), `${at}.idle_timeout`) ?? d.idle_timeout,
    start_secs: r.duration(m.get('start_secs'), `${at}.start_secs`) ?? d.start_secs,
    start_retries: r.integer(m.get('start_retries'), `${at}.start_retries`, 0, LIMITS.startRetries) ?? d.start_retries,
    fatal_retry: r.duration(m.get('fatal_retry'), `${at}.fatal_retry`) ?? d.fatal_retry,
    stop_mode: r.oneOf(m.get('stop_mode'), `${at}.stop_mode`, STOP_MODES) ?? d.stop_mode,
    stop_signal: r.unit(m.get('stop_signal'), `${at}.stop_signal`, parseSignal) ?? d.stop_signal,
    stop_timeout: r.duration(m.get('stop_timeout'), `${at}.stop_timeout`) ?? d.stop_timeout,
    restart: r.oneOf(m.get('restart'), `${at}.restart`, RESTART_POLICIES) ?? d.restart,
    max_memory: r.size(m.get('max_memory'), `${at}.max_memory`) ?? d.max_memory,
    max_lifetime: r.duration(m.get('max_lifetime'), `${at}.max_lifetime`) ?? d.max_lifetime,
    watch: r.stringList(m.get('watch'), `${at}.watch`) ?? d.watch,
    web: { mount: '/', kind: 'app', root: dir, static: {} },
  };
  pool.web = readWeb(r, m.get('web'), `${at}.web`, pool, dir);
  return command && listen ? pool : null;
}

/** What fcgid calls a program by default: php-cgi (any version suffix) is php, fcgiwrap is cgi, anything else one app. */
export function kindOf(command: readonly string[]): AppKind {
  const program = basename(command[0] ?? '');
  if (/^php[\d.]*-cgi[\d.]*$/.test(program)) return 'php';
  if (program === 'fcgiwrap') return 'cgi';
  return 'app';
}

function readWeb(r: Reader, node: Node | undefined, at: string, pool: PoolConfig, dir: string): WebConfig {
  const m = r.map(node, at, WEB_KEYS, true);
  const urlPath = (n: Node | undefined, path: string): string | null => {
    const s = r.string(n, path);
    if (s === null || URL_PATH.test(s)) return s;
    r.error(n!, path, `expected a URL path like / or /app (letters, digits, "-", "_", ".", "~"; no trailing slash), got ${JSON.stringify(s)}`);
    return null;
  };
  const directory = (n: Node | undefined, path: string): string | null => {
    const s = r.path(n, path, dir);
    if (s === null || !UNSAFE_IN_WEB_CONFIG.test(s)) return s;
    r.error(n!, path, `${JSON.stringify(s)} holds a character a web server's config would have to escape (blanks, quotes, \\, $, #, ;, braces, <>, |); move or link the directory to a plain path`);
    return null;
  };
  const mount = urlPath(m?.get('mount'), `${at}.mount`) ?? '/';
  const staticNode = m?.get('static');
  const statics: Record<string, string> = {};
  // stringMap checks types, bounds and duplicates; then each pair once, with its nodes for the line numbers.
  const valid = r.stringMap(staticNode, `${at}.static`) ?? {};
  for (const pair of isMap(staticNode) ? staticNode.items : []) {
    const keyNode = pair.key as Node;
    const url = isScalar(keyNode) ? String(keyNode.value) : '';
    if (!Object.hasOwn(valid, url)) continue;
    const where = `${at}.static.${url}`;
    if (!URL_PATH.test(url) || url === '/') {
      r.error(keyNode, where, `expected a URL path below /, like /static, got ${JSON.stringify(url)}`);
      continue;
    }
    if (mount !== '/' && !url.startsWith(`${mount}/`)) {
      r.error(keyNode, where, `is not under web.mount ${mount}; write the URL the browser asks for, e.g. ${mount}${url}`);
      continue;
    }
    const resolved = directory(pair.value as Node, where);
    if (resolved !== null) statics[url] = resolved;
  }
  return {
    mount,
    kind: r.oneOf(m?.get('kind'), `${at}.kind`, APP_KINDS) ?? kindOf(pool.command),
    // The cwd as it is, blanks and all: fcgictl request and the doctor use it; fcgid web-config refuses one it cannot write.
    root: directory(m?.get('root'), `${at}.root`) ?? pool.cwd,
    static: statics,
  };
}

/** socket_owner and socket_group; `socket_owner: user:group` (supervisord's form) sets both. */
function readSocketOwner(r: Reader, m: Map<string, Node>, at: string): Pick<PoolConfig, 'socket_owner' | 'socket_group'> {
  const owner = r.string(m.get('socket_owner'), `${at}.socket_owner`) ?? POOL_DEFAULTS.socket_owner;
  const group = r.string(m.get('socket_group'), `${at}.socket_group`) ?? POOL_DEFAULTS.socket_group;
  const colon = owner?.indexOf(':') ?? -1;
  if (owner === null || colon < 0) return { socket_owner: owner, socket_group: group };
  const [user, inOwner] = [owner.slice(0, colon), owner.slice(colon + 1)];
  if (user === '' || inOwner === '' || inOwner.includes(':')) {
    r.error(m.get('socket_owner')!, `${at}.socket_owner`, `expected a user, or user:group, got "${owner}"`);
  } else if (group !== null && group !== inOwner) {
    r.error(m.get('socket_owner')!, `${at}.socket_owner`, `names group "${inOwner}" and socket_group names "${group}"; keep one`);
  }
  return { socket_owner: user || null, socket_group: inOwner || group };
}

/** `workers: N` for a fixed pool, or `min_workers`/`max_workers` for a dynamic one; not both. */
function readSize(r: Reader, m: Map<string, Node>, at: string, fallback: number): Pick<PoolConfig, 'workers' | 'min_workers' | 'max_workers'> {
  const workers = r.integer(m.get('workers'), `${at}.workers`, 1, LIMITS.workers);
  const min = r.integer(m.get('min_workers'), `${at}.min_workers`, 1, LIMITS.workers);
  const max = r.integer(m.get('max_workers'), `${at}.max_workers`, 1, LIMITS.workers);
  if (min === null && max === null) return { workers: workers ?? fallback, min_workers: null, max_workers: null };
  if (workers !== null) {
    r.error(m.get('workers')!, `${at}.workers`, 'a pool has either workers (fixed) or min_workers/max_workers (dynamic), not both');
  }
  if (max === null) {
    r.error(m.get('min_workers')!, `${at}.max_workers`, 'missing; a dynamic pool needs max_workers (min_workers defaults to 1)');
    return { workers: min ?? 1, min_workers: min, max_workers: null };
  }
  const lo = min ?? 1;
  if (lo > max) r.error(m.get('min_workers')!, `${at}.min_workers`, `expected at most max_workers (${max}), got ${lo}`);
  return { workers: Math.max(lo, 1), min_workers: lo, max_workers: max };
}

// --- the reader: typed getters that record issues instead of throwing ---

class Reader {
  readonly issues: ConfigIssue[] = [];
  private readonly file: string;
  private readonly lines: LineCounter;
  /** Values still to be read before the config counts as too large (aliases expanded). */
  private budget: number = LIMITS.values;

  constructor(file: string, lines: LineCounter) {
    this.file = file;
    this.lines = lines;
  }

  error(node: Node | null, path: string, message: string): void {
    this.errorAt(node?.range?.[0], path, message);
  }

  errorAt(offset: number | undefined, path: string, message: string): void {
    this.issues.push({ file: this.file, line: offset === undefined ? null : this.lines.linePos(offset).line, path, message });
  }

  /** The issues to report: in line order, at most LIMITS.issues and a line saying how many more. */
  finish(): ConfigIssue[] {
    const sorted = [...this.issues].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    // A config that exhausts the stack reports it at each level on the way back: once is enough.
    for (let i = sorted.length - 1; i > 0; i--) if (sorted[i]!.message === sorted[i - 1]!.message && sorted[i]!.line === sorted[i - 1]!.line && sorted[i]!.path === sorted[i - 1]!.path) sorted.splice(i, 1);
    if (sorted.length <= LIMITS.issues) return sorted;
    const more = sorted.length - LIMITS.issues;
    return [...sorted.slice(0, LIMITS.issues), { file: this.file, line: null, path: '', message: `and ${more} more problem${more === 1 ? '' : 's'}` }];
  }

  /** Count `n` values read; false (and one issue) once the config is too large to read on. */
  spend(n: number, node: Node | null, path: string): boolean {
    if (this.budget < 0) return false;
    this.budget -= n;
    if (this.budget >= 0) return true;
    this.error(node, path, `more than ${LIMITS.values.toLocaleString('en-US')} values once YAML aliases are expanded; a config is nowhere near that large (an alias bomb?)`);
    return false;
  }

  /** A collection too long to be read: one issue, and nothing of it is read. */
  tooMany(node: Node, path: string, count: number, limit: number, what: string): boolean {
    if (count <= limit) return false;
    this.error(node, path, `${count.toLocaleString('en-US')} ${what}; at most ${limit.toLocaleString('en-US')}`);
    return true;
  }

  describe(node: Node | null | undefined): string {
    if (node == null) return 'nothing';
    if (isMap(node)) return 'a mapping';
    if (isSeq(node)) return 'a list';
    if (isScalar(node)) return node.value === null ? 'null' : JSON.stringify(node.value);
    return 'something else';
  }

  /** A mapping with known keys; an absent or null optional section gives an empty map. */
  map(node: Node | null | undefined, path: string, keys: readonly string[], optional = false): Map<string, Node> | null {
    const out = new Map<string, Node>();
    if (node == null || (isScalar(node) && node.value === null)) {
      if (!optional) this.error(node ?? null, path, `expected a mapping with ${keys.slice(0, 2).join(' and ')}, got nothing`);
      return optional ? out : null;
    }
    if (!isMap(node)) {
      this.error(node, path, `expected a mapping, got ${this.describe(node)}`);
      return null;
    }
    if (!this.spend(node.items.length, node, path)) return null;
    for (const pair of (node as YAMLMap).items) {
      const key = this.key(pair.key as Node, path);
      if (key === null) continue;
      const keyPath = path ? `${path}.${key}` : key;
      if (out.has(key)) {
        this.error(pair.key as Node, keyPath, `duplicate key "${key}"; a key may appear once in a mapping`);
        continue;
      }
      if (!keys.includes(key)) {
        const near = nearest(key, keys);
        this.error(pair.key as Node, keyPath, `unknown key${near ? `; did you mean "${near}"?` : `; valid keys: ${keys.join(', ')}`}`);
        continue;
      }
      out.set(key, pair.value as Node);
    }
    return out;
  }

  /** A mapping's key as text: a string or a number, never a mapping, a list or null. */
  key(node: Node, path: string): string | null {
    const v = isScalar(node) ? node.value : undefined;
    if (typeof v === 'string' || typeof v === 'number') return String(v);
    this.error(node, path, `expected a name as the key, got ${this.describe(node)}`);
    return null;
  }

  private scalar(node: Node | undefined): unknown {
    if (node === undefined) return undefined;
    if (isScalar(node)) return node.value;
    return node;
  }

  /** undefined for a missing key or an explicit null. */
  private present(node: Node | undefined): boolean {
    return node !== undefined && !(isScalar(node) && node.value === null);
  }

  string(node: Node | undefined, path: string): string | null {
    if (!this.present(node)) return null;
    const v = this.scalar(node);
    if (typeof v === 'string' && Buffer.byteLength(v) > LIMITS.stringBytes) {
      this.error(node!, path, `a string of ${Buffer.byteLength(v).toLocaleString('en-US')} bytes; at most ${LIMITS.stringBytes.toLocaleString('en-US')} (what Linux accepts as one argument or environment string)`);
      return null;
    }
    if (typeof v === 'string' && v !== '') return v;
    if (typeof v === 'number') return String(v);
    this.error(node!, path, `expected a string, got ${this.describe(node)}`);
    return null;
  }

  path(node: Node | undefined, path: string, dir: string): string | null {
    const s = this.string(node, path);
    return s === null ? null : isAbsolute(s) ? s : resolve(dir, s);
  }

  boolean(node: Node | undefined, path: string): boolean | null {
    if (!this.present(node)) return null;
    const v = this.scalar(node);
    if (typeof v === 'boolean') return v;
    this.error(node!, path, `expected true or false, got ${this.describe(node)}`);
    return null;
  }

  integer(node: Node | undefined, path: string, min: number, max: number): number | null {
    if (!this.present(node)) return null;
    const v = this.scalar(node);
    if (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max) return v;
    this.error(node!, path, `expected an integer from ${min} to ${max.toLocaleString('en-US')}, got ${this.describe(node)}`);
    return null;
  }

  oneOf<T extends string>(node: Node | undefined, path: string, values: readonly T[]): T | null {
    if (!this.present(node)) return null;
    const v = this.scalar(node);
    if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
    this.error(node!, path, `expected one of ${values.join(', ')}, got ${this.describe(node)}`);
    return null;
  }

  unit<T>(node: Node | undefined, path: string, parse: (v: unknown) => Parsed<T>): T | null {
    if (!this.present(node)) return null;
    const parsed = parse(this.scalar(node));
    if (parsed.ok) return parsed.value;
    this.error(node!, path, `expected ${parsed.expected}, got ${this.describe(node)}`);
    return null;
  }

  /** A duration in ms, at most LIMITS.durationMs. */
  duration(node: Node | undefined, path: string): number | null {
    const ms = this.unit(node, path, parseDuration);
    if (ms === null || ms <= LIMITS.durationMs) return ms;
    this.error(node!, path, `expected a duration of at most 576h (24 days: longer than Node's timers can wait), got ${this.describe(node)}`);
    return null;
  }

  /** A size in bytes, at most LIMITS.sizeBytes. */
  size(node: Node | undefined, path: string): number | null {
    const bytes = this.unit(node, path, parseSize);
    if (bytes === null || bytes <= LIMITS.sizeBytes) return bytes;
    this.error(node!, path, `expected a size of at most 1024G, got ${this.describe(node)}`);
    return null;
  }

  /** Octal modes: YAML 1.2 reads an unquoted 0660 as decimal 660, so the source text is used. */
  mode(node: Node | undefined, path: string): number | null {
    if (!this.present(node)) return null;
    const text = isScalar(node) && typeof node.source === 'string' ? node.source.replace(/^0o/, '0') : this.scalar(node);
    const parsed = parseMode(text);
    if (parsed.ok) return parsed.value;
    this.error(node!, path, `expected ${parsed.expected}, got ${this.describe(node)}`);
    return null;
  }

  stringList(node: Node | undefined, path: string): string[] | null {
    if (!this.present(node)) return null;
    if (!isSeq(node)) {
      this.error(node!, path, `expected a list of strings, got ${this.describe(node)}`);
      return null;
    }
    if (this.tooMany(node, path, node.items.length, LIMITS.listItems, 'entries') || !this.spend(node.items.length, node, path)) return null;
    const out: string[] = [];
    node.items.forEach((item, i) => {
      const s = this.string(item as Node, `${path}[${i}]`);
      if (s !== null) out.push(s);
    });
    return out;
  }

  stringMap(node: Node | undefined, path: string): Record<string, string> | null {
    if (!this.present(node)) return null;
    if (!isMap(node)) {
      this.error(node!, path, `expected a mapping of names to values, got ${this.describe(node)}`);
      return null;
    }
    if (this.tooMany(node, path, node.items.length, LIMITS.envEntries, 'entries') || !this.spend(node.items.length, node, path)) return null;
    const out: Record<string, string> = {};
    let bytes = 0;
    for (const pair of node.items) {
      const key = this.key(pair.key as Node, path);
      if (key === null) continue;
      if (Object.hasOwn(out, key)) {
        this.error(pair.key as Node, `${path}.${key}`, `duplicate key "${key}"; a key may appear once in a mapping`);
        continue;
      }
      const v = this.scalar(pair.value as Node);
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[key] = String(v);
      else this.error((pair.value as Node) ?? (pair.key as Node), `${path}.${key}`, `expected a string, got ${this.describe(pair.value as Node)}`);
      bytes += Buffer.byteLength(key) + Buffer.byteLength(out[key] ?? '') + 2;
    }
    if (bytes > LIMITS.envBytes) {
      this.error(node, path, `${bytes.toLocaleString('en-US')} bytes of names and values in all; at most ${LIMITS.envBytes.toLocaleString('en-US')} (1 MiB)`);
      return null;
    }
    return out;
  }

  command(node: Node | undefined, path: string, parent: Node | null): string[] | null {
    if (!this.present(node)) {
      this.error(parent, path, 'missing; expected the program and its arguments, e.g. ["/usr/bin/php-cgi"]');
      return null;
    }
    const v = this.scalar(node);
    if (typeof v === 'string') {
      const words = splitCommand(v);
      if (!words) this.error(node!, path, 'unterminated quote in the command string');
      else if (words.length === 0) this.error(node!, path, 'expected a program to run, got an empty string');
      else return words;
      return null;
    }
    const list = this.stringList(node, path);
    if (list && list.length === 0) this.error(node!, path, 'expected a program to run, got an empty list');
    return list && list.length > 0 ? list : null;
  }

  /** A unix socket path fits in sun_path, or one issue says by how much it does not. */
  unixPath(socket: string, node: Node | null, path: string, fix: string): boolean {
    const bytes = Buffer.byteLength(socket);
    if (bytes <= LIMITS.unixPathBytes) return true;
    this.error(node, path, `${socket} is ${bytes} bytes; the kernel limits a unix socket path to ${LIMITS.unixPathBytes} (sun_path); ${fix}`);
    return false;
  }

  address(node: Node | undefined, path: string, parent: Node | null, dir: string): Address | null {
    if (!this.present(node)) {
      this.error(parent, path, 'missing; expected unix:/path/to.sock or tcp://127.0.0.1:9000');
      return null;
    }
    const v = this.scalar(node);
    if (typeof v !== 'string' && typeof v !== 'number') {
      this.error(node!, path, `expected unix:/path/to.sock or tcp://HOST:PORT, got ${this.describe(node)}`);
      return null;
    }
    if (typeof v === 'string' && v.startsWith('systemd:')) {
      const name = v.slice('systemd:'.length);
      // sd_listen_fds_with_names(3): printable ASCII without ':', at most 255; a .socket unit
      // without FileDescriptorName= passes its own name, e.g. fcgid@app.socket.
      if (/^[\x21-\x39\x3b-\x7e]{1,255}$/.test(name)) return { kind: 'systemd', name };
      this.error(node!, path, `systemd:NAME needs the FileDescriptorName= of a socket unit (printable, no ':' or spaces), got ${JSON.stringify(v)}`);
      return null;
    }
    try {
      const a = parseAddress(v);
      if (a.kind !== 'unix') return a;
      // Resolved and normalised, so that one socket has one spelling (/run/./a.sock is /run/a.sock).
      const socket = resolve(dir, a.path);
      return this.unixPath(socket, node!, path, 'choose a shorter path') ? { kind: 'unix', path: socket } : null;
    } catch (err) {
      if (!(err instanceof AddressError)) throw err;
      this.error(node!, path, err.message);
      return null;
    }
  }
}
