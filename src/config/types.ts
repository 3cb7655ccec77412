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
  workers: number;
  /** Milliseconds; 0 = off. A busy worker silent this long is hung (DESIGN.md §4). */
  idle_timeout: number;
  start_secs: number;
  start_retries: number;
  stop_signal: NodeJS.Signals;
  stop_timeout: number;
  restart: RestartPolicy;
  /** Bytes; 0 = off. */
  max_memory: number;
  /** Milliseconds; 0 = off. */
  max_lifetime: number;
  watch: string[];
}

export interface Config {
  /** Absolute path of the file this came from. */
  file: string;
  control: ControlConfig;
  log: LogConfig;
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
  idle_timeout: 0,
  start_secs: 1000,
  start_retries: 5,
  stop_signal: 'SIGTERM',
  stop_timeout: 10_000,
  restart: 'always',
  max_memory: 0,
  max_lifetime: 0,
  watch: [],
} satisfies Omit<PoolConfig, 'name' | 'command' | 'listen' | 'cwd'>;

export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error'];
export const RESTART_POLICIES: readonly RestartPolicy[] = ['always', 'on-failure', 'never'];
