// What the supervisor's loop handles: every signal, control command, file
// change, scan tick, child exit and timer becomes one of these events, and
// Supervisor.step handles them one at a time, in order (gunicorn's arbiter and
// s6-supervise work the same way).

import type { PoolConfig } from '../config/types.js';
import type { Ids, Listener, PreparedSockets } from './port.js';
import type { RestartResult } from './pool.js';
import type { ReloadSummary } from './reload-plan.js';
import type { Slot, SlotEvent } from './slot.js';

/** What the operator (fcgictl, the control API, a signal, a file watcher) asks for. */
export type Command =
  | { kind: 'restart'; pools: readonly string[]; batch?: number; hard?: boolean }
  | { kind: 'reload' }
  | { kind: 'scale'; pool: string; workers: number }
  | { kind: 'stop'; pool: string }
  | { kind: 'start'; pool: string }
  | { kind: 'signal'; pool: string; signal: NodeJS.Signals }
  | { kind: 'shutdown'; why: string };

/** Each command's answer (the control API sends it as it is; docs/control-api.md). */
export interface CommandResults {
  restart: { results: RestartResult[] };
  reload: ReloadSummary;
  scale: { pool: string; workers: number };
  stop: { pool: string; wanted: number };
  start: { pool: string; wanted: number };
  signal: { pool: string; signal: NodeJS.Signals; pids: number[] };
  shutdown: { state: 'stopping' };
}

export type Reply = (outcome: { ok: true; value: unknown } | { ok: false; error: Error }) => void;

export type Event =
  /** SIGTERM and SIGINT stop (a second one kills); SIGHUP reloads. */
  | { type: 'signal'; signal: 'SIGTERM' | 'SIGINT' | 'SIGHUP' }
  | { type: 'command'; command: Command; reply: Reply }
  /** A pool's `watch:` files changed: a rolling restart. */
  | { type: 'watch'; pool: string; paths: string[] }
  /** Time for the scoreboard to look at the workers. */
  | { type: 'scan' }
  /** A worker's exit or one of its slot's timers. */
  | { type: 'slot'; pool: string; slot: Slot; event: SlotEvent }
  /** Start-up: the prepared sockets listen and the first workers start, in one tick. */
  | { type: 'launch'; prepared: PreparedSockets; ids: Map<string, Ids>; pools: readonly PoolConfig[] }
  /** A socket is back from the listen helper (or lost). */
  | { type: 'socket'; pool: string; listener: Listener; error: Error | null }
  /** The next part of a command that waited for the port (a reload's config, its sockets). */
  | { type: 'resume'; run: () => void };
