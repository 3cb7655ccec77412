// Where the daemon's log lines go (stdout, which under systemd is the
// journal's stream, or log.file), written so that the daemon never waits for
// them: a write happens off the event loop (libuv's thread pool), the lines
// that come meanwhile queue, and the queue is bounded. When the reader falls
// behind (a stuck journald, a `| less` left open, a slow disk), workers' output
// is dropped first and fcgid's own entries only past a larger bound; what was
// dropped is counted (status, metrics) and said in the log once the sink
// drains. fcgid's own entries come from pino (`write`); workers' lines come
// straight here (`line`), formatted the way pino would format them.
//
// Under journald (JOURNAL_STREAM names fd 1) each line starts with its syslog
// priority, `<N>`, which journald strips and records: `journalctl -p warning`
// shows fcgid's warnings and errors, and a worker's stderr (notice) is told
// apart from its stdout (info).

import { close, closeSync, constants, fstatSync, openSync, write } from 'node:fs';
import type { LogDrops, WorkerOutput } from '../supervisor/port.js';

/** Queued bytes past which workers' lines are dropped. */
export const OUTPUT_QUEUE_LIMIT = 256 * 1024;
/** Queued bytes past which fcgid's own entries are dropped too. */
export const OWN_QUEUE_LIMIT = 4 * 1024 * 1024;
/** How soon a write that found the sink full (EAGAIN) is tried again. */
export const RETRY_MS = 20;
/** Drops are said in the log at most this often. */
export const REPORT_EVERY_MS = 5_000;

/** pino's numeric levels to syslog priorities (debug 7, info 6, warning 4, err 3, crit 2). */
const PRIORITY: Record<number, number> = { 10: 7, 20: 7, 30: 6, 40: 4, 50: 3, 60: 2 };
const STREAM_PRIORITY = { stdout: 6, stderr: 5 } as const;
const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** The numeric level of a pino line, which pino writes first: `{"level":30,...`; null for anything else. */
export function pinoLevel(line: string): number | null {
  if (!line.startsWith('{"level":')) return null;
  const end = line.indexOf(',', 9);
  const n = Number(line.slice(9, end));
  return end > 9 && Number.isInteger(n) ? n : null;
}

/** True when fd 1 is the stream systemd connected to the journal (JOURNAL_STREAM is "dev:inode"). */
export function stdoutIsJournal(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  const stream = env['JOURNAL_STREAM'];
  if (!stream) return false;
  try {
    const st = fstatSync(1, { bigint: true });
    return stream === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

/** One readable line per entry, for a terminal. */
export function terminalLine(json: string): string {
  let e: { time?: string; level?: number; msg?: string; pool?: string; worker?: number; pid?: number; stream?: string };
  try {
    e = JSON.parse(json) as typeof e;
  } catch {
    return json;
  }
  return humanLine(e.time ?? '', e.level ?? 30, e.pool, e.worker, e.pid, e.stream, e.msg ?? '');
}

function humanLine(time: string, level: number, pool: string | undefined, worker: number | undefined, pid: number | null | undefined, stream: string | undefined, msg: string): string {
  const who = pool === undefined ? 'fcgid' : worker === undefined ? pool : `${pool}/${worker}${pid ? ` ${pid}` : ''}`;
  return `${time.slice(11, 23)} ${(LEVEL_NAMES[level] ?? String(level)).padEnd(5)} ${who}${stream ? ` ${stream}` : ''}: ${msg}\n`;
}

export interface SinkOptions {
  /** log.file (reopened on SIGUSR1), or a descriptor fcgid was given (1: stdout). */
  target: { file: string } | { fd: number };
  /** Prefix each line with its syslog priority (journald). */
  journal: boolean;
  /** One readable line per entry instead of JSON (a terminal). */
  terminal: boolean;
  /** Whether workers' lines are logged at all (log.level info or debug). */
  outputEnabled: () => boolean;
  now: () => number;
  /** Told once the sink has drained after dropping lines: what was dropped since the last time. */
  dropped: (since: LogDrops) => void;
}

export class LogSink implements WorkerOutput {
  private fd: number;
  private queue: string[] = [];
  private queued = 0;
  /** The bytes being written (or left over from a short write, or waiting for a retry). */
  private pending: Buffer | null = null;
  private writing = false;
  private retry: NodeJS.Timeout | null = null;
  private reopenWanted = false;
  private readonly total: LogDrops = { workerLines: 0, fcgidLines: 0, bytes: 0, failedWrites: 0, lastError: null };
  /** What `total` was when the log last said what was dropped. */
  private told: LogDrops = { ...this.total };
  /** When drops were last said, and whether a write got through since. */
  private toldAt = -Infinity;
  private wrote = false;
  private reportTimer: NodeJS.Timeout | null = null;
  private readonly idle: Array<() => void> = [];

  private readonly file: string | null;

  constructor(private readonly options: SinkOptions) {
    this.file = 'file' in options.target ? options.target.file : null;
    this.fd = 'file' in options.target ? openLog(options.target.file) : options.target.fd;
  }

  /** pino's destination: one of fcgid's own entries, a JSON line ending in a newline. */
  write = (line: string): void => {
    const level = pinoLevel(line) ?? 30;
    const text = this.options.terminal ? terminalLine(line) : this.options.journal ? `<${PRIORITY[level] ?? 6}>${line}` : line;
    this.enqueue(text, OWN_QUEUE_LIMIT, 'fcgidLines');
  };

  /** A line a worker wrote, formatted as pino formats fcgid's entries (level info). */
  line(pool: string, worker: number, pid: number | null, stream: 'stdout' | 'stderr', text: string): void {
    if (!this.options.outputEnabled()) return;
    // Dropped before it is formatted, when it would be.
    if (this.queued + (this.pending?.length ?? 0) >= OUTPUT_QUEUE_LIMIT) {
      this.drop('workerLines', text.length);
      return;
    }
    const time = new Date(this.options.now()).toISOString();
    let out: string;
    if (this.options.terminal) out = humanLine(time, 30, pool, worker, pid, stream, text);
    else {
      const json = `{"level":30,"time":"${time}","pool":${JSON.stringify(pool)},"worker":${worker},"pid":${pid},"stream":"${stream}","msg":${JSON.stringify(text)}}\n`;
      out = this.options.journal ? `<${STREAM_PRIORITY[stream]}>${json}` : json;
    }
    this.enqueue(out, OUTPUT_QUEUE_LIMIT, 'workerLines');
  }

  dropped(): LogDrops {
    return { ...this.total };
  }

  /** log.file again by name (logrotate moved it), once the write under way is done. */
  reopen(): void {
    if (this.file === null) return;
    this.reopenWanted = true;
    if (!this.writing) this.swapFile();
  }

  /** Resolves once everything queued is written, or after `ms`: the last lines before an exit. */
  flushed(ms: number): Promise<void> {
    if (!this.busy()) return Promise.resolve();
    return new Promise((resolve) => {
      // Not unref'd: it keeps the loop alive (bounded by `ms`) while a full pipe is retried.
      const timer = setTimeout(resolve, ms);
      this.idle.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private busy(): boolean {
    return this.writing || this.pending !== null || this.queue.length > 0;
  }

  private enqueue(text: string, limit: number, kind: 'workerLines' | 'fcgidLines'): void {
    if (this.queued + (this.pending?.length ?? 0) >= limit) {
      this.drop(kind, text.length);
      return;
    }
    this.queue.push(text);
    this.queued += text.length;
    this.pump();
  }

  private drop(kind: 'workerLines' | 'fcgidLines', bytes: number): void {
    this.total[kind]++;
    this.total.bytes += bytes;
  }

  private pump(): void {
    if (this.writing || this.retry !== null) return;
    if (this.pending === null) {
      if (this.queue.length === 0) {
        this.drained();
        return;
      }
      this.pending = Buffer.from(this.queue.length === 1 ? this.queue[0]! : this.queue.join(''));
      this.queue = [];
      this.queued = 0;
    }
    this.writing = true;
    const buf = this.pending;
    write(this.fd, buf, 0, buf.length, null, (err, written) => {
      this.writing = false;
      if (err) {
        if (err.code === 'EAGAIN') {
          // A non-blocking fd that is full: try again shortly, without spinning.
          this.retry = setTimeout(() => {
            this.retry = null;
            this.pump();
          }, RETRY_MS);
          this.retry.unref();
        } else {
          // EPIPE (no reader any more), ENOSPC, EIO: these lines are lost; later ones are tried.
          this.total.failedWrites++;
          this.total.bytes += buf.length;
          this.total.lastError = err.code ?? err.message;
          this.pending = null;
          this.afterWrite();
        }
        return;
      }
      this.wrote = true;
      this.pending = written < buf.length ? buf.subarray(written) : null;
      this.afterWrite();
    });
  }

  private afterWrite(): void {
    if (this.reopenWanted) this.swapFile();
    this.pump();
  }

  /** Nothing queued or under way: say what was dropped, if anything, and wake those waiting for a flush. */
  private drained(): void {
    this.report();
    for (const wake of this.idle.splice(0)) wake();
  }

  /**
   * What was dropped since the last report, said only once a write got through
   * since, and at most every REPORT_EVERY_MS (later, by a timer, when sooner):
   * a log that keeps failing must not feed itself its own reports.
   */
  private report(): void {
    const t = this.total;
    if (t.bytes === this.told.bytes || !this.wrote) return;
    const now = Date.now();
    if (now - this.toldAt < REPORT_EVERY_MS) {
      this.reportTimer ??= setTimeout(() => {
        this.reportTimer = null;
        this.report();
      }, this.toldAt + REPORT_EVERY_MS - now);
      this.reportTimer.unref();
      return;
    }
    this.wrote = false;
    this.toldAt = now;
    const since: LogDrops = {
      workerLines: t.workerLines - this.told.workerLines,
      fcgidLines: t.fcgidLines - this.told.fcgidLines,
      bytes: t.bytes - this.told.bytes,
      failedWrites: t.failedWrites - this.told.failedWrites,
      lastError: t.lastError,
    };
    this.told = { ...t };
    this.options.dropped(since);
  }


  private swapFile(): void {
    this.reopenWanted = false;
    try {
      const fd = openLog(this.file!);
      const old = this.fd;
      this.fd = fd;
      close(old, () => {});
    } catch {
      // Keep writing to the old file; the next SIGUSR1 tries again.
    }
  }

  /** Stops retrying, and closes log.file (a descriptor it was given stays open). */
  close(): void {
    if (this.retry) clearTimeout(this.retry);
    if (this.reportTimer) clearTimeout(this.reportTimer);
    if (this.file !== null) closeSync(this.fd);
  }
}

function openLog(file: string): number {
  // Appended to by name as root: never through a symlink (src/cli/fcgid.ts checked its directory).
  return openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o640);
}
