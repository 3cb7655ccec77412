// The operator's commands, as the supervisor's loop runs them: checked at once
// (an unknown pool, a count that makes no sense), then run one at a time.
// Those that take time (restart, reload, scale, stop, start) wait their turn
// behind the one running, up to MAX_WAITING; signal answers at once. What each
// command does to the pools is here; how a reload works out what to do is in
// reload.ts and reload-plan.ts.

import { LIMITS } from '../config/types.js';
import { formatAddress } from '../fastcgi/address.js';
import { CommandError } from './errors.js';
import type { Command, CommandResults, Reply } from './events.js';
import type { Log } from './log.js';
import type { PoolSet } from './pool-set.js';
import { reload, type ReloadContext } from './reload.js';

/** Commands that may wait behind the one running; more are refused (FCGID_BUSY). */
export const MAX_WAITING = 16;

interface Queued {
  command: Command;
  reply: Reply;
}

export interface CommandContext {
  pools: PoolSet;
  log: Log;
  stopping(): boolean;
  /** Start-up is done (the daemon holds every socket and its scan runs): commands that take time wait until then. */
  started(): boolean;
  /** Hand a continuation back to the loop (an answer that came from a promise). */
  resume(run: () => void): void;
  /** What a reload needs of the loop. */
  reloadContext(): ReloadContext;
}

export class Commands {
  private running: Queued | null = null;
  private readonly waiting: Queued[] = [];

  constructor(private readonly ctx: CommandContext) {}

  /** The command in progress, if any. */
  get current(): Command | null {
    return this.running?.command ?? null;
  }

  /** A command: refused, answered at once (signal), run now, or queued behind the one running. */
  accept(command: Exclude<Command, { kind: 'shutdown' }>, reply: Reply): void {
    try {
      this.refuseWhileStopping();
      this.validate(command);
      if (command.kind === 'signal') return reply({ ok: true, value: this.signal(command.pool, command.signal) });
    } catch (error) {
      return reply({ ok: false, error: error as Error });
    }
    if (this.running === null && this.ctx.started()) return this.run({ command, reply });
    if (this.waiting.length >= MAX_WAITING) {
      const error = new CommandError('FCGID_BUSY', `${this.waiting.length} commands are already waiting for the ${this.running ? `${this.running.command.kind} in progress` : 'end of start-up'}; try again once it is done`);
      return reply({ ok: false, error });
    }
    this.ctx.log.info({ command: command.kind }, `${describe(command)} waits for the ${this.running ? `${describe(this.running.command)} in progress` : 'end of start-up'}`);
    this.waiting.push({ command, reply });
  }

  /** Start-up is done: the first command waiting runs. */
  startedUp(): void {
    const next = this.running === null ? this.waiting.shift() : undefined;
    if (next) this.run(next);
  }

  /** fcgid is stopping: the commands waiting are refused (the one running sees its pools stop and answers). */
  refuseWaiting(): void {
    for (const q of this.waiting.splice(0)) q.reply({ ok: false, error: stoppingError() });
  }

  /** What can be checked before a command waits its turn: its pools exist, its numbers make sense. */
  private validate(command: Command): void {
    const { pools } = this.ctx;
    switch (command.kind) {
      case 'restart':
        for (const name of command.pools) pools.get(name);
        return;
      case 'scale':
        if (!Number.isInteger(command.workers) || command.workers < 0 || command.workers > LIMITS.workers) {
          throw new CommandError('FCGID_BAD_REQUEST', `workers must be an integer from 0 to ${LIMITS.workers.toLocaleString('en-US')}, got ${command.workers}`);
        }
        const { min_workers: min, max_workers: max } = pools.get(command.pool).config;
        if (max !== null && min !== null && (command.workers < min || command.workers > max)) {
          throw new CommandError(
            'FCGID_BAD_REQUEST',
            `pool ${command.pool} is dynamic (min_workers ${min}, max_workers ${max}): scale it from ${min} to ${max}${command.workers < min ? `, or stop its workers with fcgictl stop ${command.pool}` : ', or raise max_workers in the config and reload'}`,
          );
        }
        return;
      case 'stop':
      case 'start':
      case 'signal':
        pools.get(command.pool);
        return;
    }
  }

  private run(q: Queued): void {
    this.running = q;
    let outcome: Promise<unknown>;
    try {
      // Checked again now: a reload that ran meanwhile may have removed a pool.
      this.refuseWhileStopping();
      this.validate(q.command);
      outcome = Promise.resolve(this.execute(q.command));
    } catch (error) {
      outcome = Promise.reject(error);
    }
    outcome.then(
      (value) => this.ctx.resume(() => this.finish({ ok: true, value })),
      (error: Error) => this.ctx.resume(() => this.finish({ ok: false, error })),
    );
  }

  private finish(outcome: Parameters<Reply>[0]): void {
    const done = this.running!;
    this.running = null;
    done.reply(outcome);
    const next = this.waiting.shift();
    if (next) this.run(next);
  }

  private execute(command: Command): unknown {
    const { pools, log } = this.ctx;
    switch (command.kind) {
      case 'restart': {
        const chosen = command.pools.length === 0 ? [...pools.live.values()] : command.pools.map((n) => pools.get(n));
        const options = { ...(command.batch !== undefined ? { batch: command.batch } : {}), ...(command.hard ? { hard: true } : {}) };
        for (const p of chosen) log.info({ pool: p.name, ...options }, `pool ${p.name}: ${command.hard ? 'hard' : 'rolling'} restart`);
        return Promise.all(chosen.map((p) => p.restart(options))).then((results): CommandResults['restart'] => ({ results }));
      }
      case 'scale': {
        const pool = pools.get(command.pool);
        log.info({ pool: pool.name, from: pool.wanted, to: command.workers }, `pool ${pool.name}: scaling from ${pool.wanted} to ${command.workers} workers`);
        pool.scale(command.workers, `scaled down to ${command.workers} worker${command.workers === 1 ? '' : 's'} (fcgictl scale)`);
        return { pool: pool.name, workers: command.workers } satisfies CommandResults['scale'];
      }
      case 'stop': {
        const pool = pools.get(command.pool);
        log.info({ pool: pool.name }, `pool ${pool.name}: stopping its workers (the socket stays open; connections wait in the backlog)`);
        pool.stop('the pool was stopped (fcgictl stop)');
        return { pool: pool.name, wanted: 0 } satisfies CommandResults['stop'];
      }
      case 'start': {
        const pool = pools.get(command.pool);
        const begin = (): CommandResults['start'] => {
          pool.start();
          log.info({ pool: pool.name }, `pool ${pool.name}: starting; ${pool.wanted} worker${pool.wanted === 1 ? '' : 's'} wanted`);
          return { pool: pool.name, wanted: pool.wanted };
        };
        if (pool.failure === null || pool.config.listen.kind !== 'unix') return begin();
        // A worker took the pool's path (Supervisor.hijacked): a new socket there first.
        const { port, resume } = this.ctx.reloadContext();
        return port.sockets.open([pool.config]).then((opened) =>
          resume(() => {
            const listener = opened.get(pool.name)!;
            // fcgid began to stop while the socket was made: it is not taken in.
            if (this.ctx.stopping()) {
              port.sockets.close(listener);
              throw stoppingError();
            }
            port.sockets.close(pools.move(pool.name, listener));
            pool.adopt(pool.config, listener.fd);
            log.info({ pool: pool.name }, `pool ${pool.name}: a new socket at ${formatAddress(pool.config.listen)}`);
            return begin();
          }),
        );
      }
      case 'reload':
        return reload(this.ctx.reloadContext());
      case 'signal':
      case 'shutdown':
        throw new Error(`${command.kind} is answered at once, never queued`);
    }
  }

  private signal(name: string, signal: NodeJS.Signals): CommandResults['signal'] {
    const pids = this.ctx.pools.get(name).signal(signal);
    this.ctx.log.info({ pool: name, signal, pids }, `pool ${name}: sent ${signal} to ${pids.length} worker${pids.length === 1 ? '' : 's'}`);
    return { pool: name, signal, pids };
  }

  private refuseWhileStopping(): void {
    if (this.ctx.stopping()) throw stoppingError();
  }
}

function stoppingError(): CommandError {
  return new CommandError('FCGID_STOPPING', 'fcgid is stopping; no new commands');
}

function describe(c: Command): string {
  switch (c.kind) {
    case 'restart':
      return c.pools.length ? `restart of ${c.pools.join(', ')}` : 'restart';
    case 'scale':
      return `scale of ${c.pool} to ${c.workers}`;
    case 'stop':
    case 'start':
      return `${c.kind} of ${c.pool}`;
    default:
      return c.kind;
  }
}
