// A record of the daemon's workers on disk (pid + process start time), so that
// after the daemon was SIGKILLed the next start can find and stop the workers
// it left behind, and never signal an unrelated process that reused a pid.
// The daemon records itself there too: workers whose daemon still runs are not
// leftovers, and a second fcgid on the same config must not touch them (its
// control socket may not be open yet, or its file may have been removed).

import { readFileSync, renameSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import type { Config } from '../config/types.js';
import type { Host } from '../supervisor/port.js';
import { processStart } from './procnet.js';
import { fmtMs } from '../supervisor/format.js';

export interface SweepLog {
  warn(fields: object, message: string): void;
}

export interface WorkerRecord {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: clock ticks after boot. */
  start: string;
  pool: string;
  stop_signal: NodeJS.Signals;
  stop_timeout: number;
}

/** A process as the registry names it: pid and start time, so a reused pid is never taken for it. */
export interface ProcessRecord {
  pid: number;
  start: string;
}

/** The file: the daemon that wrote it and its workers (older files: the workers alone, as an array). */
interface RegistryFile {
  daemon: ProcessRecord | null;
  workers: WorkerRecord[];
}

export class Registry {
  private readonly records = new Map<number, WorkerRecord>();
  private pending: NodeJS.Immediate | null = null;
  private readonly daemon: ProcessRecord | null;
  constructor(readonly file: string) {
    const start = processStart(process.pid);
    this.daemon = start === null ? null : { pid: process.pid, start };
  }

  add(record: Omit<WorkerRecord, 'start'>): void {
    const start = processStart(record.pid);
    if (start === null) return;
    this.records.set(record.pid, { ...record, start });
    this.scheduleSave();
  }

  remove(pid: number): void {
    if (this.records.delete(pid)) this.scheduleSave();
  }

  /**
   * Saved once per turn of the event loop, after the current event is handled:
   * a recycled worker's exit and the spawn of its replacement (or a pool's N
   * first spawns) cost one write, made after the spawn instead of delaying it.
   * A write plus rename-over costs 0.25 ms on ext4 and several ms under I/O
   * load, and php-cgi recycles many times a second under load.
   */
  private scheduleSave(): void {
    this.pending ??= setImmediate(() => {
      this.pending = null;
      this.save();
    });
  }

  /** Written whole and renamed into place, so a crash never leaves half a file. */
  private save(): void {
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify({ daemon: this.daemon, workers: [...this.records.values()] } satisfies RegistryFile));
    renameSync(tmp, this.file);
  }

  clear(): void {
    if (this.pending) clearImmediate(this.pending);
    this.pending = null;
    this.records.clear();
    rmSync(this.file, { force: true });
  }

  /** What the file says, or nothing if it is missing or unreadable. */
  static read(file: string): RegistryFile {
    let data: unknown;
    try {
      data = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      return { daemon: null, workers: [] };
    }
    if (Array.isArray(data)) return { daemon: null, workers: data as WorkerRecord[] };
    const f = data as Partial<RegistryFile>;
    return { daemon: f.daemon ?? null, workers: Array.isArray(f.workers) ? f.workers : [] };
  }

  static ensureDir(file: string): void {
    mkdirSync(dirname(file), { recursive: true });
  }
}

function alive(p: ProcessRecord): boolean {
  return Number.isInteger(p.pid) && processStart(p.pid) === p.start;
}

/**
 * Stop workers a SIGKILLed predecessor left running (DESIGN.md §5, orphans).
 * Throws, touching nothing, if the fcgid that recorded them still runs.
 */
export async function sweepLeftovers(file: string, host: Host, log: SweepLog): Promise<void> {
  const { daemon, workers } = Registry.read(file);
  if (daemon !== null && daemon.pid !== process.pid && alive(daemon)) {
    throw new Error(`another fcgid (pid ${daemon.pid}) is running this config; its workers are recorded in ${file}; stop it first (kill -TERM ${daemon.pid})`);
  }
  // Still alive and still the same processes.
  const left = workers.filter(alive);
  if (left.length === 0) return;
  log.warn(
    { pids: left.map((r) => r.pid) },
    `found ${left.length} worker${left.length === 1 ? '' : 's'} left running by a previous fcgid (pids ${left.map((r) => r.pid).join(', ')}); stopping them`,
  );
  await Promise.all(left.map((r) => stopLeftover(r, host, log)));
}

async function stopLeftover(r: WorkerRecord, host: Host, log: SweepLog): Promise<void> {
  const gone = (): boolean => processStart(r.pid) !== r.start;
  host.killGroup(r.pid, r.stop_signal);
  const deadline = host.now() + r.stop_timeout;
  for (let delay = 5; !gone(); delay = Math.min(delay * 2, 100)) {
    if (host.now() >= deadline) {
      log.warn({ pid: r.pid }, `leftover worker pid ${r.pid} still alive ${fmtMs(r.stop_timeout)} after ${r.stop_signal}; sending SIGKILL`);
      host.killGroup(r.pid, 'SIGKILL');
      while (!gone()) await new Promise((res) => setTimeout(res, 5));
      return;
    }
    await new Promise((res) => setTimeout(res, delay));
  }
}

/** Where the worker records of a config live: beside its control socket. */
export function registryPath(config: Config): string {
  const ctl = config.control.socket;
  return join(dirname(ctl), `${basename(ctl, extname(ctl))}.workers.json`);
}
