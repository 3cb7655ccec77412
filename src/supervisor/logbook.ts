// A bounded, in-memory record of what each pool's workers printed and what
// happened to them, for `fcgictl logs [-f]`: a ring per pool, plus followers
// that receive new entries as they come, each entry as one NDJSON line made
// once for all of them.

import type { Log, LogFn } from './log.js';
import { Ring } from './output.js';

export interface LogEntry {
  time: string;
  pool: string;
  level: 'debug' | 'info' | 'warn' | 'error';
  /** Worker slot and pid for worker output and slot events. */
  worker?: number;
  pid?: number | null;
  /** 'stdout' / 'stderr' for worker output; absent for fcgid's own events. */
  stream?: 'stdout' | 'stderr';
  msg: string;
}

export const LOG_RING_SIZE = 1000;

export class Logbook {
  private readonly rings = new Map<string, Ring<LogEntry>>();
  private readonly followers = new Set<{ pool: string | null; send: (line: string) => void }>();

  add(entry: LogEntry): void {
    let ring = this.rings.get(entry.pool);
    if (!ring) this.rings.set(entry.pool, (ring = new Ring<LogEntry>(LOG_RING_SIZE)));
    ring.push(entry);
    let line: string | null = null;
    for (const f of this.followers) if (f.pool === null || f.pool === entry.pool) f.send((line ??= entryLine(entry)));
  }

  /** The last `n` entries of one pool, or of all pools merged by time. */
  tail(pool: string | null, n: number): LogEntry[] {
    const entries = pool === null ? [...this.rings.values()].flatMap((r) => r.toArray()) : (this.rings.get(pool)?.toArray() ?? []);
    if (pool === null) entries.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
    return n >= entries.length ? entries : entries.slice(entries.length - n);
  }

  get following(): number {
    return this.followers.size;
  }

  /** `send` gets each new entry of `pool` (null: every pool) as an NDJSON line; returns the way to stop. */
  follow(pool: string | null, send: (line: string) => void): () => void {
    const f = { pool, send };
    this.followers.add(f);
    return () => this.followers.delete(f);
  }

  forget(pool: string): void {
    this.rings.delete(pool);
  }
}

/** An entry as `GET /v1/logs` sends it: one JSON object and a newline. */
export function entryLine(e: LogEntry): string {
  return JSON.stringify(e) + '\n';
}

type Level = 'debug' | 'info' | 'warn' | 'error';

/**
 * A log that also puts each of its entries about a pool (a `pool` field or
 * binding) in the logbook, so that `fcgictl logs` shows a pool's start, its
 * scale-ups and spare stops, watch restarts and commands beside its workers'
 * exits. Debug entries stay out, and so does worker output (a `stream` field):
 * that is booked where it is read.
 */
export class BookingLog implements Log {
  readonly debug: LogFn;
  readonly info: LogFn;
  readonly warn: LogFn;
  readonly error: LogFn;

  constructor(
    private readonly inner: Log,
    private readonly book: Logbook,
    private readonly now: () => number,
    private readonly bindings: Readonly<Record<string, unknown>> = {},
  ) {
    this.debug = inner.debug.bind(inner);
    this.info = this.writer('info');
    this.warn = this.writer('warn');
    this.error = this.writer('error');
  }

  get level(): string {
    return this.inner.level;
  }

  set level(level: string) {
    this.inner.level = level;
  }

  child(bindings: Record<string, unknown>): Log {
    return new BookingLog(this.inner.child(bindings), this.book, this.now, { ...this.bindings, ...bindings });
  }

  private writer(level: Exclude<Level, 'debug'>): LogFn {
    return ((a: object | string, message?: string) => {
      if (typeof a === 'string') this.inner[level](a);
      else this.inner[level](a, message);
      const fields = (typeof a === 'string' ? {} : a) as Record<string, unknown>;
      const pool = fields.pool ?? this.bindings.pool;
      if (typeof pool !== 'string' || 'stream' in fields) return;
      const pid = fields.pid;
      this.book.add({ time: new Date(this.now()).toISOString(), pool, level, msg: typeof a === 'string' ? a : (message ?? ''), ...(typeof pid === 'number' ? { pid } : {}) });
    }) as LogFn;
  }
}
