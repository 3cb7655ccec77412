// A pool: its slots, what is wanted of them, and the one reconcile step that
// makes what runs match what is wanted (desired vs observed, DESIGN.md §3).
// Restart, scale and stop are then small: they change `wanted` and reconcile.

import type { PoolConfig } from '../config/types.js';
import type { Host, SpawnSpec } from './host.js';
import { Slot, type SlotObserver, type SlotState } from './slot.js';

export type PoolState = 'starting' | 'running' | 'degraded' | 'failed' | 'stopping' | 'stopped';

export interface PoolEnv {
  /** The daemon's environment, for pass_env and when clear_env is false. */
  base: NodeJS.ProcessEnv;
  uid: number | null;
  gid: number | null;
}

export class Pool {
  readonly config: PoolConfig;
  readonly slots: Slot[] = [];
  /** Desired number of workers; 0 when the pool is wanted down. */
  wanted: number;
  private readonly host: Host;
  private readonly observer: SlotObserver;
  private readonly socketFd: number;
  private readonly baseEnv: Record<string, string>;
  private readonly ids: { uid: number | null; gid: number | null };

  constructor(config: PoolConfig, socketFd: number, host: Host, observer: SlotObserver, env: PoolEnv) {
    this.config = config;
    this.socketFd = socketFd;
    this.host = host;
    this.observer = observer;
    this.wanted = 0;
    this.ids = { uid: env.uid, gid: env.gid };
    this.baseEnv = buildEnv(config, env.base);
  }

  get name(): string {
    return this.config.name;
  }

  /** Make the slots match `wanted`. The only place slots are created, started or stopped. */
  reconcile(): void {
    while (this.slots.length < this.wanted) {
      this.slots.push(new Slot(this.slots.length, this.config, this.host, this.observer, (s) => this.spec(s)));
    }
    this.slots.forEach((slot, i) => {
      slot.want = i < this.wanted ? 'up' : 'down';
      slot.handle({ type: slot.want === 'up' ? 'start' : 'stop' });
    });
    // Surplus slots at the end go away once their process is gone.
    while (this.slots.length > this.wanted && isIdle(this.slots[this.slots.length - 1]!.state)) this.slots.pop();
  }

  /** True when no slot has a process. */
  get quiescent(): boolean {
    return this.slots.every((s) => s.pid === null);
  }

  count(state: SlotState): number {
    return this.slots.filter((s) => s.state === state).length;
  }

  get state(): PoolState {
    if (this.wanted === 0) return this.quiescent ? 'stopped' : 'stopping';
    const up = this.slots.slice(0, this.wanted);
    if (up.length > 0 && up.every((s) => s.state === 'fatal')) return 'failed';
    if (up.some((s) => s.state === 'fatal' || s.state === 'backoff')) return 'degraded';
    if (up.length === this.wanted && up.every((s) => s.state === 'running')) return 'running';
    return 'starting';
  }

  private spec(slot: Slot): SpawnSpec {
    const env = { ...this.baseEnv, FCGID_WORKER: String(slot.index) };
    return {
      command: this.config.command,
      cwd: this.config.cwd,
      env,
      uid: this.ids.uid,
      gid: this.ids.gid,
      umask: this.config.umask,
      socketFd: this.socketFd,
      targetFd: this.config.socket_fd,
    };
  }
}

function isIdle(state: SlotState): boolean {
  return state === 'exited' || state === 'fatal';
}

/** The environment every worker of the pool gets (DESIGN.md §2), slot number aside. */
export function buildEnv(config: PoolConfig, base: NodeJS.ProcessEnv): Record<string, string> {
  const env: Record<string, string> = {};
  if (!config.clear_env) {
    for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v;
  } else {
    for (const k of config.pass_env) if (base[k] !== undefined) env[k] = base[k]!;
  }
  // The daemon's own socket-activation and notify variables are not the workers' business.
  for (const k of ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES', 'NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'FCGID_CONTROL']) delete env[k];
  Object.assign(env, config.env);
  env.FCGID_POOL = config.name;
  if (config.allowed_clients.length > 0) env.FCGI_WEB_SERVER_ADDRS = config.allowed_clients.join(',');
  else delete env.FCGI_WEB_SERVER_ADDRS;
  if (config.socket_fd > 2) env.FCGID_LISTEN_FD = String(config.socket_fd);
  else delete env.FCGID_LISTEN_FD;
  return env;
}
