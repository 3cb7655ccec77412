// The typed, fully defaulted config that the rest of fcgid works from. The YAML
// keys (DESIGN.md §2) map one to one onto these fields; docs/configuration.md
// documents each with its default and its counterpart in peer tools.

import type { Address } from '../fastcgi/address.js';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';
export type RestartPolicy = 'always' | 'on-failure' | 'never';

export interface ControlConfig {
  socket: string;
  mode: number;
  group: string | null;
}

export interface LogConfig {
  level: LogLevel;
  file: string | null;
}

export interface PoolConfig {
  name: string;
  command: string[];
  /** Default: the config file's directory. */
  cwd: string;
  user: string | null;
  group: string | null;
  umask: number | null;
  env: Record<string, string>;
  clear_env: boolean;
  pass_env: string[];
  listen: Address;
  /** Descriptor the worker gets the socket on: 0 for FastCGI programs, above 2 for Node workers (DESIGN.md §5). */
  socket_fd: number;
  socket_mode: number | null;
  socket_owner: string | null;
  socket_group: string | null;
  backlog: number;
  allowed_clients: string[];
  /** A fixed pool's size; for a dynamic pool, where it starts (min_workers). */
  workers: number;
  /** A dynamic pool: spawn while every worker is busy, up to max_workers; stop spare idle ones down to min_workers. Null for a fixed pool. */
  min_workers: number | null;
  max_workers: number | null;
  /** Milliseconds a spare worker of a dynamic pool may stay idle before it is stopped (php-fpm pm.process_idle_timeout, FcgidIdleTimeout). */
  spare_idle_timeout: number;
  /** Milliseconds; 0 = off. A busy worker silent this long is hung (DESIGN.md §4). */
  idle_timeout: number;
  start_secs: number;
  start_retries: number;
  /** Milliseconds; 0 = never. A fatal slot is tried again after 30 s, doubling up to this. */
  fatal_retry: number;
  /** freeze: a stop loses no request (SIGSTOP, kill once it holds no connection); signal: stop_signal, the program's own shutdown. */
  stop_mode: StopMode;
  stop_signal: NodeJS.Signals;
  stop_timeout: number;
  restart: RestartPolicy;
  /** Bytes; 0 = off. */
  max_memory: number;
  /** Milliseconds; 0 = off. */
  max_lifetime: number;
  watch: string[];
  /** How the web server in front reaches this pool (docs/web-servers.md); read by `fcgid web-config` and `fcgictl request`, never by workers. */
  web: WebConfig;
}

/**
 * app: one program answers every URL under the mount (WSGI's SCRIPT_NAME/PATH_INFO: flup, uWSGI, Node);
 * php: scripts under web.root (SCRIPT_FILENAME), php-cgi; cgi: CGI scripts under web.root, through fcgiwrap.
 */
export type AppKind = 'app' | 'php' | 'cgi';
export const APP_KINDS: readonly AppKind[] = ['app', 'php', 'cgi'];

/** A URL path fcgid writes into a web server's config: "/" or segments of unreserved characters (RFC 3986), none "." or "..". */
export const URL_PATH = /^\/$|^(\/(?!\.{1,2}(\/|$))[A-Za-z0-9._~-]+)+$/;

/**
 * What a path written into a web server's config must not hold: quotes,
 * escapes, variables ($), comments, separators, blanks (nginx takes paths
 * unquoted) and control characters.
 */
export const UNSAFE_IN_WEB_CONFIG = /["'\\$#;{}<>|`\s\x00-\x1f\x7f]/;

export interface WebConfig {
  /** URL prefix the pool answers under: "/" or "/name[/name…]", no trailing slash. */
  mount: string;
  /** Default: from the command (php-cgi: php, fcgiwrap: cgi, anything else: app). */
  kind: AppKind;
  /** The document root: where php and cgi scripts are (URL mount/x.php is root/x.php). Default: the pool's cwd. */
  root: string;
  /** URL path → directory the web server serves itself (static files), e.g. /static → /var/www/app/static. */
  static: Record<string, string>;
}

export interface MetricsConfig {
  /** A TCP address serving GET /metrics (Prometheus text format) for scrapers; null: only on the control socket. */
  listen: Address | null;
}

export interface Config {
  /** Absolute path of the file this came from. */
  file: string;
  control: ControlConfig;
  log: LogConfig;
  metrics: MetricsConfig;
  pools: PoolConfig[];
}

export const POOL_DEFAULTS = {
  user: null,
  group: null,
  umask: null,
  env: {},
  clear_env: false,
  pass_env: [],
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
} satisfies Omit<PoolConfig, 'name' | 'command' | 'listen' | 'cwd' | 'web'>;

/** A pool's name: a path segment of the control API. */
export const POOL_NAME = /^[A-Za-z0-9_.-]+$/;

export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error'];
export const RESTART_POLICIES: readonly RestartPolicy[] = ['always', 'on-failure', 'never'];
export type StopMode = 'freeze' | 'signal';
export const STOP_MODES: readonly StopMode[] = ['freeze', 'signal'];

/**
 * Every number fcgid accepts has an upper bound (docs/configuration.md, "Limits"):
 * `fcgid check` refuses a config beyond one, and the control API answers 400
 * naming it. They keep one file or one request from exhausting the daemon.
 */
export const LIMITS = {
  /** A config file. */
  configBytes: 1024 * 1024,
  /** Values the reader visits once YAML aliases are expanded. */
  values: 1_000_000,
  /** Problems reported for one file; beyond, one line says how many more. */
  issues: 50,
  /** YAML nesting. */
  depth: 64,
  pools: 1000,
  poolName: 64,
  /** workers, min_workers, max_workers, a scale, a restart's batch. */
  workers: 10_000,
  startRetries: 1000,
  backlog: 65_535,
  socketFd: 255,
  /** Every duration: Node's timers cannot wait longer than 2^31 - 1 ms (24.8 days). */
  durationMs: 24 * 86_400_000,
  /** max_memory. */
  sizeBytes: 1024 ** 4,
  /** command arguments, pass_env, allowed_clients, watch. */
  listItems: 4096,
  envEntries: 4096,
  /** One string: Linux refuses longer arguments and environment strings (MAX_ARG_STRLEN). */
  stringBytes: 128 * 1024,
  /** A pool's environment in all. */
  envBytes: 1024 * 1024,
  /** A unix socket path: sun_path is 108 bytes with its terminating NUL. */
  unixPathBytes: 107,
} as const;
