// A reload, as the supervisor runs it (one command at a time): read and check
// the new config, open the sockets it needs, then apply only the difference
// (reload-plan.ts). Nothing changes until all of that worked: an invalid file,
// an unknown user or a socket that cannot be opened refuses the reload with
// every problem, and the previous config stays in force. The changes
// themselves happen inside `resume` steps of the loop.

import { ConfigError } from '../config/errors.js';
import type { Config } from '../config/types.js';
import { formatAddress } from '../fastcgi/address.js';
import { CommandError } from './errors.js';
import type { Log } from './log.js';
import type { PoolSet } from './pool-set.js';
import type { Ids, Listener, Port } from './port.js';
import { planReload, reloadLogFields, reloadText, summarizeReload, type ReloadSummary } from './reload-plan.js';

export interface ReloadContext {
  port: Port;
  log: Log;
  pools: PoolSet;
  config(): Config;
  stopping(): boolean;
  /** Run `fn` as a step of the loop (it may change pools); resolves with what it returns. */
  resume<T>(fn: () => T): Promise<T>;
  begin(): void;
  adopt(next: Config): void;
  syncWatchers(): Promise<void>;
  /** True when the daemon was reloading and is running again (not stopping). */
  end(): boolean;
  reloaded(): void;
}

export async function reload(ctx: ReloadContext): Promise<ReloadSummary> {
  const { port, log, pools } = ctx;
  const refuse = (message: string, issues?: ConfigError['issues']): never => {
    log.error(issues ? { issues } : {}, `reload refused; still running the previous config:${issues ? '\n' : ' '}${message}`);
    throw new CommandError('FCGID_RELOAD_FAILED', message, issues);
  };
  await ctx.resume(() => ctx.begin());
  try {
    let next: Config;
    try {
      next = await port.readConfig(ctx.config().file);
    } catch (err) {
      if (err instanceof ConfigError) return refuse(err.message, err.issues);
      throw err;
    }
    const plan = planReload(ctx.config(), next);
    let ids: Map<string, Ids>;
    let opened: Map<string, Listener>;
    try {
      ids = port.identities(next.pools);
      opened = await port.sockets.open([...plan.add, ...plan.relisten]);
    } catch (err) {
      return refuse((err as Error).message);
    }
    if (ctx.stopping()) {
      for (const l of opened.values()) port.sockets.close(l);
      throw new CommandError('FCGID_STOPPING', 'fcgid is stopping; the reload was not applied');
    }
    const restarts = await ctx.resume(() => {
      ctx.adopt(next);
      const restarts: Array<Promise<unknown>> = [];
      for (const name of plan.remove) pools.retire(name);
      for (const p of plan.add) pools.add(p, opened.get(p.name)!, ids.get(p.name)!);
      for (const p of next.pools) if (!plan.add.includes(p)) pools.get(p.name).config = p;
      for (const p of plan.relisten) {
        const pool = pools.get(p.name);
        const listener = opened.get(p.name)!;
        const old = pools.move(p.name, listener);
        pool.adopt(p, listener.fd);
        log.info({ pool: p.name, listen: formatAddress(p.listen) }, `pool ${p.name}: moving to ${formatAddress(p.listen)} (rolling restart onto the new socket)`);
        restarts.push(pool.restart({ batch: p.workers }).then(() => port.sockets.close(old)));
      }
      for (const p of plan.restart) {
        const pool = pools.get(p.name);
        pool.adopt(p, pools.listener(p.name)!.fd);
        log.info({ pool: p.name }, `pool ${p.name}: config changed; rolling restart`);
        restarts.push(pool.restart());
      }
      for (const p of plan.hardRestart) {
        const pool = pools.get(p.name);
        pool.adopt(p, pools.listener(p.name)!.fd);
        log.info(
          { pool: p.name, socket_fd: p.socket_fd },
          `pool ${p.name}: socket_fd is now ${p.socket_fd}; every worker stops, then the new ones start on the same socket (connections wait in its backlog)`,
        );
        restarts.push(pool.restart({ hard: true }));
      }
      for (const { pool, to } of plan.scale) pools.get(pool).scale(to, `scaled down to ${to} worker${to === 1 ? '' : 's'} by a reload`);
      for (const p of plan.permissions) port.sockets.applyPermissions(pools.listener(p.name)!, p);
      if (plan.needsDaemonRestart.length > 0) {
        log.warn({ keys: plan.needsDaemonRestart }, `reload: ${plan.needsDaemonRestart.join(', ')} take effect only when fcgid restarts`);
      }
      const summary = summarizeReload(plan);
      log.info({ plan: reloadLogFields(summary) }, `reloaded ${next.file}: ${reloadText(summary)}`);
      return restarts;
    });
    await ctx.syncWatchers();
    await Promise.all(restarts);
    return summarizeReload(plan);
  } finally {
    await ctx.resume(() => {
      if (ctx.end()) ctx.reloaded();
    });
  }
}
