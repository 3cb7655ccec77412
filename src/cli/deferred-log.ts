// DeferredLog stands in for the daemon's logger (pino) while `fcgid start`
// spawns the first workers: pino and what it pulls in are loaded only then,
// off the start-up path (src/cli/fcgid.ts). Entries logged meanwhile are kept
// in order and replayed into pino with the time they were logged at.

import type { Log, LogFn } from '../supervisor/log.js';

export type { Log };

type Level = 'debug' | 'info' | 'warn' | 'error';

interface Entry {
  at: number;
  /** The child it was logged through; null for the root. */
  via: DeferredLog | null;
  level: Level;
  args: [object | string, string?];
}

interface Shared {
  entries: Entry[];
  target: Log | null;
  /** While replaying: the time of the entry being written, for the target's clock. */
  replaying: number | null;
  level: string;
}

export class DeferredLog implements Log {
  private readonly shared: Shared;
  private readonly bindings: Record<string, unknown> | null;
  /** This child's logger on the target, made on first use after attach(). */
  private real: Log | null = null;

  constructor(level: string, parent?: { shared: Shared; bindings: Record<string, unknown> }) {
    this.shared = parent?.shared ?? { entries: [], target: null, replaying: null, level };
    this.bindings = parent?.bindings ?? null;
  }

  get level(): string {
    return this.shared.target?.level ?? this.shared.level;
  }

  set level(level: string) {
    if (this.shared.target) this.shared.target.level = level;
    else this.shared.level = level;
  }

  readonly debug: LogFn = (...args: [object | string, string?]) => this.write('debug', args);
  readonly info: LogFn = (...args: [object | string, string?]) => this.write('info', args);
  readonly warn: LogFn = (...args: [object | string, string?]) => this.write('warn', args);
  readonly error: LogFn = (...args: [object | string, string?]) => this.write('error', args);

  child(bindings: Record<string, unknown>): Log {
    const merged = { ...this.bindings, ...bindings };
    return this.shared.target ? this.shared.target.child(merged) : new DeferredLog(this.shared.level, { shared: this.shared, bindings: merged });
  }

  /** The clock for the target's timestamps: an entry's own time while it is replayed. */
  now = (): number => this.shared.replaying ?? Date.now();

  /** From now on write to `target`; first replay what came before, in order. */
  attach(target: Log): void {
    if (this.shared.target) return;
    target.level = this.shared.level;
    this.shared.target = target;
    for (const e of this.shared.entries.splice(0)) {
      this.shared.replaying = e.at;
      try {
        const log = e.via ? e.via.resolve() : target;
        (log[e.level] as (...a: unknown[]) => void)(...e.args);
      } finally {
        this.shared.replaying = null;
      }
    }
  }

  get attached(): boolean {
    return this.shared.target !== null;
  }

  private resolve(): Log {
    const target = this.shared.target!;
    if (this.bindings === null) return target;
    return (this.real ??= target.child(this.bindings));
  }

  private write(level: Level, args: [object | string, string?]): void {
    if (this.shared.target) {
      (this.resolve()[level] as (...a: unknown[]) => void)(...args);
      return;
    }
    this.shared.entries.push({ at: Date.now(), via: this.bindings === null ? null : this, level, args });
  }
}
