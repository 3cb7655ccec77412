// What every reader of a peer's config builds: pools with fcgid keys, each key
// traced to the setting it came from, and notes for each setting with no fcgid
// equivalent (what it did, what to do instead). writer.ts turns a Draft into
// YAML; nothing here knows any peer's syntax.

import { formatDuration } from '../config/view.js';
import { LIMITS, POOL_NAME, UNSAFE_IN_WEB_CONFIG, URL_PATH, type AppKind } from '../config/types.js';
import { MigrateError } from './errors.js';
import { formatAddress, parseAddress } from '../fastcgi/address.js';

export const FORMATS = ['supervisord', 'php-fpm', 'spawn-fcgi', 'lighttpd', 'apache'] as const;
export type Format = (typeof FORMATS)[number];

/** Pool keys in the order of docs/configuration.md; `web` last. */
export const POOL_KEYS = [
  'command',
  'cwd',
  'user',
  'group',
  'umask',
  'env',
  'clear_env',
  'pass_env',
  'listen',
  'socket_fd',
  'socket_mode',
  'socket_owner',
  'socket_group',
  'backlog',
  'allowed_clients',
  'workers',
  'min_workers',
  'max_workers',
  'spare_idle_timeout',
  'idle_timeout',
  'start_secs',
  'start_retries',
  'fatal_retry',
  'stop_mode',
  'stop_signal',
  'stop_timeout',
  'restart',
  'max_memory',
  'max_lifetime',
  'watch',
  'web',
] as const;
export type PoolKey = Exclude<(typeof POOL_KEYS)[number], 'env' | 'web'>;

/** A value as people write it; a mode is printed double-quoted ("0660"), since YAML reads 0660 as a decimal number. */
export type Value = string | number | boolean | string[] | { mode: string };

/** Where fcgid puts a pool's socket when the peer gave it none of its own (the web server made one, or nobody did). */
export const defaultSocket = (name: string): string => `unix:/run/fcgid/${name}.sock`;


/** One comment: the settings it is about (merged when the advice is the same), their lines, and what to do. */
export interface Note {
  settings: string[];
  lines: number[];
  advice: string;
}

/** Each list of notes by advice, with the settings and lines each already has: a file of 30,000 unknown settings adds as many notes. */
const noteIndex = new WeakMap<Note[], Map<string, { note: Note; settings: Set<string>; lines: Set<number> }>>();

function addNote(notes: Note[], line: number | null, setting: string, advice: string): void {
  let byAdvice = noteIndex.get(notes);
  if (!byAdvice) noteIndex.set(notes, (byAdvice = new Map()));
  let entry = byAdvice.get(advice);
  if (!entry) {
    entry = { note: { settings: [], lines: [], advice }, settings: new Set(), lines: new Set() };
    byAdvice.set(advice, entry);
    notes.push(entry.note);
  }
  if (setting !== '' && !entry.settings.has(setting)) {
    entry.settings.add(setting);
    entry.note.settings.push(setting);
  }
  if (line !== null && !entry.lines.has(line)) {
    entry.lines.add(line);
    entry.note.lines.push(line);
  }
}

/** `12`, `+12`: a whole number, else null. */
export function parseInteger(text: string | number): number | null {
  if (typeof text === 'number') return Number.isInteger(text) ? text : null;
  const t = text.trim();
  return /^\+?\d{1,15}$/.test(t) ? Number(t) : null;
}

/** `0660`, `660`, `0o660` as "0660"; null when not an octal mode. */
export function normalizeMode(text: string): string | null {
  const t = text.trim().replace(/^0o/i, '');
  if (!/^0?[0-7]{3,4}$/.test(t)) return null;
  const n = parseInt(t, 8);
  return n > 0o7777 ? null : `0${n.toString(8).padStart(3, '0')}`;
}

export class PoolDraft {
  readonly name: string;
  /** The peer's section or directive this pool comes from, with its line. */
  readonly origin: string;
  readonly values = new Map<PoolKey, { value: Value; from: string | null }>();
  readonly env = new Map<string, { value: string; from: string | null }>();
  readonly web: { mount: string | null; kind: AppKind | null; root: string | null; static: Map<string, string> } = {
    mount: null,
    kind: null,
    root: null,
    static: new Map(),
  };
  /** Settings with no fcgid equivalent. */
  readonly notes: Note[] = [];
  /** What to change on the web server's side, one sentence each. */
  readonly webServer: string[] = [];

  constructor(name: string, origin: string) {
    this.name = name;
    this.origin = origin;
  }

  set(key: PoolKey, value: Value, from: string | null = null): void {
    if (key === 'listen' && typeof value === 'string') {
      // Written only as an address fcgid takes (a port past 65535, a host with a space are not).
      try {
        value = formatAddress(parseAddress(value));
      } catch (err) {
        this.note(null, `${from ?? 'listen'} ${value}`, `${(err as Error).message}; this pool listens on ${defaultSocket(this.name)} instead`);
        value = defaultSocket(this.name);
      }
    }
    this.values.set(key, { value, from });
  }

  get(key: PoolKey): Value | undefined {
    return this.values.get(key)?.value;
  }

  setEnv(name: string, value: string, from: string | null = null): void {
    this.env.set(name, { value, from });
  }

  note(line: number | null, setting: string, advice: string): void {
    addNote(this.notes, line, setting, advice);
  }

  /** A socket the web server used to make for itself is fcgid's now: the web server's group must be able to connect. */
  openTo(group: string, from: string): void {
    if (!this.values.has('socket_group') && !this.values.has('socket_owner')) this.set('socket_group', group, from);
    if (!this.values.has('socket_mode')) this.set('socket_mode', { mode: '0660' }, 'the web server connects through its group');
  }

  /** A whole number within fcgid's bounds; otherwise a note saying why it was left out. */
  integer(key: PoolKey, text: string | number, from: string, line: number | null, min: number, max: number): number | null {
    const n = parseInteger(text);
    if (n !== null && n >= min && n <= max) {
      this.set(key, n, from);
      return n;
    }
    const why = n === null ? 'not a whole number' : `fcgid's ${key} is ${min} to ${max.toLocaleString('en-US')}`;
    this.note(line, `${from} ${text}`, `${why}; left out (fcgid's default applies): set ${key} by hand`);
    return null;
  }

  /** A duration in seconds, written the way people write it (`300` is `5m`); bounded as fcgid bounds it. */
  seconds(key: PoolKey, seconds: number, from: string, line: number | null): void {
    const ms = Math.round(seconds * 1000);
    if (!Number.isFinite(ms) || ms < 0 || ms > LIMITS.durationMs) {
      this.note(line, `${from} ${seconds}`, `fcgid's ${key} is at most 576h (24 days); left out: set ${key} by hand`);
      return;
    }
    this.set(key, formatDuration(ms), from);
  }

  mode(key: PoolKey, text: string, from: string, line: number | null): void {
    const mode = normalizeMode(text);
    if (mode === null) this.note(line, `${from} ${text}`, `not an octal mode such as 0660; left out: set ${key} by hand`);
    else this.set(key, { mode }, from);
  }

  /** web.mount from a URL prefix as the peer wrote it (`/app/`, `/`); a note when fcgid cannot take it. */
  mount(url: string, from: string, line: number | null): void {
    const path = url === '/' ? '/' : url.replace(/\/+$/, '') || '/';
    if (URL_PATH.test(path)) this.web.mount = path;
    else
      this.note(line, `${from} ${url}`, 'not a URL path fcgid can write into a web server config (letters, digits, "-", "_", ".", "~"); set web.mount by hand');
  }

  /** web.root, when it is a plain absolute path. */
  root(dir: string, from: string, line: number | null): void {
    const path = dir.length > 1 ? dir.replace(/\/+$/, '') : dir;
    if (path.startsWith('/') && !UNSAFE_IN_WEB_CONFIG.test(path)) this.web.root = path;
    else this.note(line, `${from} ${dir}`, 'fcgid needs an absolute directory without quotes, $, # or ; in it as web.root; set web.root by hand');
  }

  /** A web.static entry: a URL below the mount the web server serves from a directory itself. */
  staticDir(url: string, dir: string, from: string, line: number | null): void {
    const path = url.replace(/\/+$/, '');
    const where = dir.length > 1 ? dir.replace(/\/+$/, '') : dir;
    const mount = this.web.mount ?? '/';
    const under = mount === '/' || path.startsWith(`${mount}/`);
    if (path !== '' && URL_PATH.test(path) && under && where.startsWith('/') && !UNSAFE_IN_WEB_CONFIG.test(where)) this.web.static.set(path, where);
    else this.note(line, `${from} ${url} ${dir}`, 'not a URL path below web.mount and a plain directory; serve it from the web server as before');
  }
}

export class Draft {
  readonly format: Format;
  /** The input as the user named it (a path, or "-" for stdin). */
  readonly file: string;
  readonly pools: PoolDraft[] = [];
  /** About the file as a whole: sections that are the peer's own business, includes, … */
  readonly notes: Note[] = [];

  constructor(format: Format, file: string) {
    this.format = format;
    this.file = file;
  }

  note(line: number | null, setting: string, advice: string): void {
    addNote(this.notes, line, setting, advice);
  }

  /** A new pool named as close to `wanted` as fcgid allows, and unique. */
  addPool(wanted: string, origin: string, line: number | null): PoolDraft {
    if (this.pools.length >= LIMITS.pools) {
      throw new MigrateError(
        this.file,
        line,
        `more than ${LIMITS.pools.toLocaleString('en-US')} pools; fcgid runs at most that many per config: split the file and import each part`,
      );
    }
    let base = wanted
      .replace(/[^A-Za-z0-9_.-]+/g, '-')
      .replace(/^[-.]+|-+$/g, '')
      .slice(0, LIMITS.poolName - 4);
    if (!POOL_NAME.test(base)) base = 'app';
    let name = base;
    for (let i = 2; this.pools.some((p) => p.name === name); i++) name = `${base}-${i}`;
    const pool = new PoolDraft(name, origin);
    if (name !== wanted)
      pool.note(
        line,
        `name ${JSON.stringify(wanted)}`,
        `named "${name}" here (a pool name is 1 to 64 of A-Za-z0-9_.- and unique); fcgictl and the logs use this name`,
      );
    this.pools.push(pool);
    return pool;
  }
}
