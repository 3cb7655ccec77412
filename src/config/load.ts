// Reads a config file into a typed Config with every default filled in. Every
// problem is collected (not just the first) with file, line, key path, what was
// found and what is expected; an unknown key names the nearest valid one.
// No side effects beyond reading the file.

import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, visit, type Node, type Scalar, type YAMLMap } from 'yaml';
import { AddressError, formatAddress, parseAddress, type Address } from '../fastcgi/address.js';
import { splitCommand } from './command.js';
import { nearest } from './suggest.js';
import {
  LOG_LEVELS,
  POOL_DEFAULTS,
  RESTART_POLICIES,
  type Config,
  type ControlConfig,
  type LogConfig,
  type MetricsConfig,
  type PoolConfig,
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
const POOL_KEYS = ['command', 'listen', 'cwd', ...Object.keys(POOL_DEFAULTS)] as const;
const POOL_NAME = /^[A-Za-z0-9_.-]+$/;

export function loadConfig(file: string, options: LoadOptions = {}): Config {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError([{ file: path, line: null, path: '', message: `cannot read the config file: ${e.code ?? e.message}` }]);
  }
  return parseConfig(text, path, options);
}

export function parseConfig(text: string, file: string, options: LoadOptions = {}): Config {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const r = new Reader(file, lines);
  for (const e of doc.errors) {
    r.issues.push({ file, line: lines.linePos(e.pos[0]).line, path: '', message: `YAML: ${e.message.split('\n')[0]}` });
  }
  if (r.issues.length > 0) throw new ConfigError(r.issues);
  // Anchors and aliases (`command: *php`) read as the node they name.
  visit(doc, { Alias: (_key, alias) => alias.resolve(doc) ?? undefined });

  const contents = doc.contents as Node | null;
  if (contents !== null && !isMap(contents) && !(isScalar(contents) && contents.value === null)) {
    // Nothing below can be read; one issue says so instead of a cascade of "missing" ones.
    r.error(contents, '', `expected a mapping with pools (and optionally control and log), got ${r.describe(contents)}`);
    throw new ConfigError(r.issues);
  }
  // An empty file reads as an empty mapping, so the one issue is the missing pools.
  const top = r.map(contents, '', TOP_KEYS, true);
  const dir = dirname(file);
  const control = readControl(r, top?.get('control'), file, options);
  const log = readLog(r, top?.get('log'), dir);
  const metrics = readMetrics(r, top?.get('metrics'), dir);
  const pools = readPools(r, top?.get('pools'), dir);
  if (r.issues.length > 0) throw new ConfigError(r.issues);
  return { file, control, log, metrics, pools };
}

// --- sections ---

function readControl(r: Reader, node: Node | undefined, file: string, options: LoadOptions): ControlConfig {
  const m = r.map(node, 'control', CONTROL_KEYS, true);
  return {
    socket: r.path(m?.get('socket'), 'control.socket', dirname(file)) ?? defaultControlSocket(file, options.uid, options.env),
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
  const pools: PoolConfig[] = [];
  const seen = new Map<string, string>();
  for (const pair of node.items) {
    const keyNode = pair.key as Scalar;
    const name = String(keyNode.value);
    const at = `pools.${name}`;
    if (!POOL_NAME.test(name)) {
      r.error(keyNode, at, 'a pool name may contain only letters, digits, "_", "." and "-"');
      continue;
    }
    const pool = readPool(r, pair.value as Node | null, keyNode, at, name, dir);
    if (!pool) continue;
    const where = formatAddress(pool.listen);
    const other = seen.get(where);
    if (other) r.error((pair.value as YAMLMap).get('listen', true) as Node, `${at}.listen`, `${where} is already the listen address of pool ${other}`);
    seen.set(where, name);
    pools.push(pool);
  }
  return pools;
}

function readPool(r: Reader, node: Node | null, keyNode: Node, at: string, name: string, dir: string): PoolConfig | null {
  const m = r.map(node, at, POOL_KEYS);
  if (!m) return null;
  // A copy: pools must not share (and so cannot corrupt) the default env and lists.
  const d = structuredClone(POOL_DEFAULTS);
  // A missing key is reported on the pool's name line, where it belongs.
  const command = r.command(m.get('command'), `${at}.command`, keyNode);
  const listen = r.address(m.get('listen'), `${at}.listen`, keyNode, dir);
  const socketFd = r.integer(m.get('socket_fd'), `${at}.socket_fd`, 0) ?? d.socket_fd;
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
    socket_owner: r.string(m.get('socket_owner'), `${at}.socket_owner`) ?? d.socket_owner,
    socket_group: r.string(m.get('socket_group'), `${at}.socket_group`) ?? d.socket_group,
    backlog: r.integer(m.get('backlog'), `${at}.backlog`, 1) ?? d.backlog,
    allowed_clients: r.stringList(m.get('allowed_clients'), `${at}.allowed_clients`) ?? d.allowed_clients,
    ...readSize(r, m, at, d.workers),
    spare_idle_timeout: r.unit(m.get('spare_idle_timeout'), `${at}.spare_idle_timeout`, parseDuration) ?? d.spare_idle_timeout,
    idle_timeout: r.unit(m.get('idle_timeout'), `${at}.idle_timeout`, parseDuration) ?? d.idle_timeout,
    start_secs: r.unit(m.get('start_secs'), `${at}.start_secs`, parseDuration) ?? d.start_secs,
    start_retries: r.integer(m.get('start_retries'), `${at}.start_retries`, 0) ?? d.start_retries,
    stop_signal: r.unit(m.get('stop_signal'), `${at}.stop_signal`, parseSignal) ?? d.stop_signal,
    stop_timeout: r.unit(m.get('stop_timeout'), `${at}.stop_timeout`, parseDuration) ?? d.stop_timeout,
    restart: r.oneOf(m.get('restart'), `${at}.restart`, RESTART_POLICIES) ?? d.restart,
    max_memory: r.unit(m.get('max_memory'), `${at}.max_memory`, parseSize) ?? d.max_memory,
    max_lifetime: r.unit(m.get('max_lifetime'), `${at}.max_lifetime`, parseDuration) ?? d.max_lifetime,
    watch: r.stringList(m.get('watch'), `${at}.watch`) ?? d.watch,
  };
  return command && listen ? pool : null;
}

/** `workers: N` for a fixed pool, or `min_workers`/`max_workers` for a dynamic one; not both. */
function readSize(r: Reader, m: Map<string, Node>, at: string, fallback: number): Pick<PoolConfig, 'workers' | 'min_workers' | 'max_workers'> {
  const workers = r.integer(m.get('workers'), `${at}.workers`, 1);
  const min = r.integer(m.get('min_workers'), `${at}.min_workers`, 1);
  const max = r.integer(m.get('max_workers'), `${at}.max_workers`, 1);
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

  constructor(file: string, lines: LineCounter) {
    this.file = file;
    this.lines = lines;
  }

  error(node: Node | null, path: string, message: string): void {
    const offset = node?.range?.[0];
    this.issues.push({ file: this.file, line: offset === undefined ? null : this.lines.linePos(offset).line, path, message });
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
    for (const pair of (node as YAMLMap).items) {
      const key = String((pair.key as Scalar).value);
      const keyPath = path ? `${path}.${key}` : key;
      if (!keys.includes(key)) {
        const near = nearest(key, keys);
        this.error(pair.key as Node, keyPath, `unknown key${near ? `; did you mean "${near}"?` : `; valid keys: ${keys.join(', ')}`}`);
        continue;
      }
      out.set(key, pair.value as Node);
    }
    return out;
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

  integer(node: Node | undefined, path: string, min: number): number | null {
    if (!this.present(node)) return null;
    const v = this.scalar(node);
    if (typeof v === 'number' && Number.isInteger(v) && v >= min) return v;
    const what = min === 1 ? 'a positive integer' : min === 0 ? 'an integer of 0 or more' : `an integer of at least ${min}`;
    this.error(node!, path, `expected ${what}, got ${this.describe(node)}`);
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
    const out: Record<string, string> = {};
    for (const pair of node.items) {
      const key = String((pair.key as Scalar).value);
      const v = this.scalar(pair.value as Node);
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[key] = String(v);
      else this.error((pair.value as Node) ?? (pair.key as Node), `${path}.${key}`, `expected a string, got ${this.describe(pair.value as Node)}`);
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
      return a.kind === 'unix' && !isAbsolute(a.path) ? { kind: 'unix', path: resolve(dir, a.path) } : a;
    } catch (err) {
      if (!(err instanceof AddressError)) throw err;
      this.error(node!, path, err.message);
      return null;
    }
  }
}
