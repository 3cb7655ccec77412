// The control API's wire types, in one place: every request body and answer of
// docs/control-api.md, and the status document that `fcgictl status --json`
// prints and fcgictl's table is drawn from. fcgictl, the control server and
// the tests all read them from here.

import type { CommandResults } from '../supervisor/events.js';
import type { RestartResult } from '../supervisor/pool.js';
import type { ReloadSummary } from '../supervisor/reload-plan.js';
import type { LogEntry } from '../supervisor/logbook.js';

export type { LogEntry, ReloadSummary, RestartResult };

export const STATUS_SCHEMA_VERSION = 1;

export interface SlotStatus {
  slot: number;
  /** "worker", or "replacement" for the new worker of a rolling restart. */
  role: 'worker' | 'replacement';
  pid: number | null;
  state: string;
  since: string;
  uptime_ms: number | null;
  restarts: number;
  failures: number;
  last_exit: { pid: number | null; code: number | null; signal: string | null; reason: string; uptime_ms: number; at: string } | null;
  rss_bytes: number | null;
  cpu_percent: number | null;
  /** From the scoreboard: idle, busy (holds a request) or waiting (holds the web server's connection, blocked reading it); null when not running. */
  activity: 'idle' | 'busy' | 'waiting' | null;
  /** How long the worker has been in that activity, and since its last I/O progress. */
  activity_ms: number | null;
  progress_ms: number | null;
  /** The last stderr lines, for a fatal slot. */
  stderr_tail?: string[];
  /** A fatal slot: when fcgid tries it again (fatal_retry); absent when it will not. */
  retry_in_ms?: number;
  /** A worker that forks its servers (php-cgi with PHP_FCGI_CHILDREN): those processes, one by one. Its own `activity` sums them up. */
  processes?: ProcessStatus[];
}

export interface ProcessStatus {
  pid: number;
  activity: 'idle' | 'busy' | 'waiting';
  activity_ms: number;
  progress_ms: number;
  rss_bytes: number | null;
  cpu_percent: number | null;
}

export interface PoolStatus {
  name: string;
  listen: string;
  state: string;
  /** busy and idle count serving processes: a php-cgi master with 4 children counts 4. */
  workers: { wanted: number; running: number; busy: number; idle: number };
  /** Connections waiting to be accepted (TCP listeners; null where /proc does not show it). */
  queue: number | null;
  restarts: number;
  hung_kills: number;
  slots: SlotStatus[];
}

/** A follower of `GET /v1/logs?follow=1` that falls this far behind (bytes buffered for it) is cut off, never waited for. */
export const FOLLOWER_BUFFER = 256 * 1024;

export interface DaemonStatus {
  schema: number;
  version: string;
  pid: number;
  config: string;
  state: string;
  started_at: string;
  uptime_ms: number;
  pools: PoolStatus[];
  /** What fcgid's log left out because its reader fell behind (docs/operations.md, Logs). */
  log?: LogStatus;
}

export interface LogStatus {
  dropped_worker_lines: number;
  dropped_fcgid_lines: number;
  dropped_bytes: number;
  failed_writes: number;
  last_error: string | null;
}

/** Every failure: a stable code, a message that says what to do, sometimes more (`issues` of a refused reload, `results` of a failed ping). */
export interface ErrorBody {
  error: { code: string; message: string; [more: string]: unknown };
}

/** POST /v1/restart */
export interface RestartRequest {
  pools?: string[];
  batch?: number;
  hard?: boolean;
}
export type RestartResponse = CommandResults['restart'];

/** POST /v1/reload */
export type ReloadResponse = ReloadSummary;

/** POST /v1/pools/NAME/scale, stop, start, signal */
export interface ScaleRequest {
  workers: number;
}
export type ScaleResponse = CommandResults['scale'];
export type StopResponse = CommandResults['stop'];
export type StartResponse = CommandResults['start'];
export interface SignalRequest {
  signal: string;
}
export type SignalResponse = CommandResults['signal'];

/** GET /v1/ping */
export interface PingResult {
  pool: string;
  ok: boolean;
  ms: number;
  values?: Record<string, string>;
  error?: string;
}
export interface PingResponse {
  results: PingResult[];
}

/** POST /v1/pools/NAME/request */
export interface FastCGIRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  params?: Record<string, string>;
  /** base64 */
  body?: string;
  timeout_ms?: number;
}
export interface FastCGIResponse {
  status: number;
  status_text: string;
  headers: Array<[string, string]>;
  /** base64 */
  body: string;
  stderr: string;
  app_status: number;
}

/** POST /v1/shutdown */
export type ShutdownResponse = CommandResults['shutdown'];
