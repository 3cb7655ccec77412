// The supervisor's port (src/supervisor/port.ts) on a real Linux machine:
// processes (processes.ts), the pools' sockets and the listen helper
// (listeners.ts), systemd's sockets (activation.ts), /proc (observe.ts), the
// worker registry (registry.ts), user and group names (identity.ts), the
// config file and `watch:` globs. `fcgid start` builds one and hands it to the
// Supervisor; nothing else in the core touches the OS.

import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ConfigError, type ConfigIssue } from '../config/errors.js';
import { formatAddress } from '../fastcgi/address.js';
import { trustedDir } from './dirs.js';
import type { Config, PoolConfig } from '../config/types.js';
import { StartError } from '../supervisor/errors.js';
import type { Log } from '../supervisor/log.js';
import type { FileWatcher, Listener, Port, PreparedSockets, Sockets, WorkerRecords } from '../supervisor/port.js';
import { matchPassed, passedSockets, poolsToCreate, type PassedSocket } from './activation.js';
import { noSuch, resolveGroup, resolveIdentities, resolveUser, said } from './identity.js';
import { applySocketPermissions, closeListener, handOver, listenHere, openListeners, prepareTargets, somaxconn, type ListenTarget, type Listener as HostListener } from './listeners.js';
import { ProcObserver } from './observe.js';
import { realHost } from './processes.js';
import { Registry, registryPath, sweepLeftovers } from './registry.js';

interface Prepared extends PreparedSockets {
  targets: ListenTarget[];
}

class HostSockets implements Sockets {
  /** Sockets systemd passed (socket activation), read once at start-up. */
  private readonly passed: PassedSocket[] = passedSockets();

  constructor(private readonly log: Log) {}

  async prepare(pools: readonly PoolConfig[]): Promise<PreparedSockets> {
    const passed = this.passedFor(pools);
    const create = this.toCreate(pools);
    try {
      const targets = await prepareTargets(create.map((p) => ({ address: p.listen, backlog: p.backlog })));
      const prepared: Prepared = { passed, create, targets };
      return prepared;
    } catch (err) {
      throw new StartError((err as Error).message);
    }
  }

  listenNow(prepared: PreparedSockets): Map<string, Listener> {
    const { create, targets } = prepared as Prepared;
    let here: HostListener[];
    try {
      here = listenHere(targets);
    } catch (err) {
      throw new StartError((err as Error).message);
    }
    return this.permitted(create, here, new Map());
  }

  handOver(listener: Listener, pool: PoolConfig): Promise<Error | null> {
    return handOver(listener as HostListener, pool.backlog, pool.socket_fd === 0);
  }

  async open(pools: readonly PoolConfig[]): Promise<Map<string, Listener>> {
    const out: Map<string, Listener> = this.passedFor(pools);
    const create = this.toCreate(pools);
    let listeners: HostListener[];
    try {
      listeners = await openListeners(create.map((p) => ({ address: p.listen, backlog: p.backlog })));
    } catch (err) {
      throw new StartError((err as Error).message);
    }
    return this.permitted(create, listeners, out);
  }

  /** The new sockets with their mode and owner set, added to `out`; on a failure all of them are closed again. */
  private permitted(create: readonly PoolConfig[], opened: HostListener[], out: Map<string, Listener>): Map<string, Listener> {
    try {
      create.forEach((p, i) => {
        out.set(p.name, opened[i]!);
        this.applyPermissions(opened[i]!, p);
      });
    } catch (err) {
      for (const l of opened) closeListener(l);
      throw err;
    }
    return out;
  }

  applyPermissions(_listener: Listener, p: PoolConfig): void {
    if (p.listen.kind !== 'unix') return;
    // Names are checked before start (identityProblems); one that went away since is said, never ignored.
    const uid = p.socket_owner === null ? null : (resolveUser(p.socket_owner)?.uid ?? null);
    const gid = p.socket_group === null ? null : resolveGroup(p.socket_group);
    if (p.socket_owner !== null && uid === null) throw new StartError(said(noSuch(`pools.${p.name}.socket_owner`, 'user', p.socket_owner)), 2);
    if (p.socket_group !== null && gid === null) throw new StartError(said(noSuch(`pools.${p.name}.socket_group`, 'group', p.socket_group)), 2);
    try {
      applySocketPermissions(p.listen.path, p.socket_mode, uid, gid);
    } catch (err) {
      throw new StartError(`pool ${p.name}: cannot set the mode or owner of ${p.listen.path}: ${(err as Error).message}`);
    }
  }

  close(listener: Listener): void {
    closeListener(listener as HostListener);
  }

  /** The sockets systemd passed for these pools; an error for a systemd:NAME it did not pass. */
  private passedFor(pools: readonly PoolConfig[]): Map<string, Listener> {
    const out = new Map<string, Listener>();
    for (const p of pools) {
      const given = matchPassed(p.listen, this.passed);
      if (given) {
        const listener: HostListener = { address: given.address ?? p.listen, fd: given.fd, handle: null, owned: false };
        out.set(p.name, listener);
        this.log.info({ pool: p.name, fd: given.fd, name: given.name }, `pool ${p.name}: using the socket systemd passed as fd ${given.fd} (${given.name})`);
      } else if (p.listen.kind === 'systemd') {
        const names = this.passed.map((s) => s.name);
        throw new StartError(
          `pools.${p.name}.listen: systemd:${p.listen.name}, but systemd passed no socket of that name (${names.length ? `passed: ${names.join(', ')}` : 'none passed'}); check FileDescriptorName= in the .socket unit`,
          2,
        );
      }
    }
    return out;
  }

  /** The pools whose socket fcgid creates, with a warning for a backlog the kernel caps. */
  private toCreate(pools: readonly PoolConfig[]): PoolConfig[] {
    const create = poolsToCreate(pools, this.passed);
    const cap = somaxconn();
    for (const p of create) {
      if (cap !== null && p.backlog > cap) {
        this.log.warn(
          { pool: p.name, backlog: p.backlog, somaxconn: cap },
          `pool ${p.name}: backlog ${p.backlog} is above net.core.somaxconn (${cap}); the kernel caps it at ${cap} (raise it with sysctl -w net.core.somaxconn=${p.backlog})`,
        );
      }
    }
    return create;
  }
}

/** The worker registry file beside the control socket (registry.ts), in the directory claim.ts checked. */
class FileRecords implements WorkerRecords {
  private readonly registry: Registry;
  constructor(
    private readonly config: Config,
    private readonly log: Log,
  ) {
    this.registry = new Registry(registryPath(config));
  }

  async sweep(): Promise<void> {
    trustedDir(dirname(this.registry.file), 'private', 0o755, 'control.socket');
    await sweepLeftovers(this.registry.file, this.config, realHost, this.log);
  }

  add(pid: number, pool: PoolConfig): void {
    this.registry.add({ pid, pool: pool.name, listen: formatAddress(pool.listen), stop_signal: pool.stop_signal, stop_timeout: pool.stop_timeout });
  }

  remove(pid: number): void {
    this.registry.remove(pid);
  }

  clear(): void {
    this.registry.clear();
  }
}

// From dist/host/ and from the bundle in dist/bundle/ alike (both two levels below the package).
const CONFIG_WORKER = new URL('../host/config-worker.js', import.meta.url);

/** A reload's config, read on a worker thread so that the event loop never waits for the parse. */
function readConfig(file: string): Promise<Config> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(CONFIG_WORKER, { workerData: { file } });
    let settled = false;
    worker.once('message', (m: { config?: Config; issues?: ConfigIssue[]; error?: string }) => {
      settled = true;
      if (m.config) resolve(m.config);
      else if (m.issues) reject(new ConfigError(m.issues));
      else reject(new Error(m.error ?? 'the config reader gave no answer'));
    });
    worker.once('error', (err) => {
      settled = true;
      reject(err);
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`the config reader exited with status ${code} without an answer`));
    });
  });
}

export function realPort(config: Config, log: Log): Port {
  return {
    host: realHost,
    sockets: new HostSockets(log),
    observer: new ProcObserver(),
    records: new FileRecords(config, log),
    env: process.env,
    identities: resolveIdentities,
    readConfig,
    async watch(patterns, cwd, onChange): Promise<FileWatcher> {
      // chokidar is loaded only when a pool watches files.
      const { PoolWatcher } = await import('./watch.js');
      return new PoolWatcher(patterns, cwd, onChange);
    },
  };
}

