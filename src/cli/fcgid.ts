// `fcgid`: the daemon's command line. `start` runs in the foreground (the way
// systemd wants it); `check` validates a config and prints it resolved.
// Exit statuses are documented in docs/operations.md.

// Start-up time matters (a restart waits on it): what only `start` needs is
// imported in start(), and `check` imports its YAML printer itself.
import { Command } from 'commander';
import { closeSync, constants, openSync } from 'node:fs';
import { isatty } from 'node:tty';
import type http from 'node:http';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/types.js';
import type { ControlServer } from '../control/server.js';
import type { Notifier } from '../host/notify.js';
import { trustedDir } from '../host/dirs.js';
import { closeInheritedFds } from '../host/inherited-fds.js';
import { LogSink, stdoutIsJournal } from '../host/log-sink.js';
import type { Log } from '../supervisor/log.js';
import type { LogDrops } from '../supervisor/port.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import type { Launch, Main } from './launch.cjs';
import { VERSION } from './version.js';
import { EXIT_CONFIG, loadOrExit, pickPool } from './config-file.js';
import { addImportCommand } from './import-command.js';
import { addDoctorCommand } from './doctor-command.js';

export const EXIT = { OK: 0, FAILED: 1, CONFIG: EXIT_CONFIG } as const;

/** The daemon's logger on its sink (pino formats fcgid's own entries; workers' lines go to the sink directly). */
function makeLogger(pino: typeof import('pino').default, config: Config, sink: LogSink, now: () => number): Logger {
  // pino's isoTime, on a clock that gives entries logged before pino was loaded their own time.
  // No `pid` in the base: worker lines carry the worker's pid under that name
  // (journald records the daemon's own).
  return pino({ level: config.log.level, base: null, timestamp: () => `,"time":"${new Date(now()).toISOString()}"` }, sink);
}

/** Levels at which workers' lines (info) are logged. */
const OUTPUT_LEVELS = new Set(['trace', 'debug', 'info']);

/** How long an exit waits for the last log lines to be written. */
const EXIT_FLUSH_MS = 2000;

function droppedMessage(d: LogDrops): string {
  const parts = [
    d.workerLines > 0 ? `${d.workerLines} line${d.workerLines === 1 ? '' : 's'} of worker output` : '',
    d.fcgidLines > 0 ? `${d.fcgidLines} of fcgid's own entries` : '',
    d.failedWrites > 0 ? `${d.failedWrites} failed write${d.failedWrites === 1 ? '' : 's'} (${d.lastError})` : '',
  ].filter(Boolean);
  return `the log fell behind its reader: left out ${parts.join(' and ')}, ${d.bytes.toLocaleString('en-US')} bytes; fcgid never waits for its log (see fcgictl status --json, log, and fcgid_log_lines_dropped_total)`;
}

/** How long log entries may wait for pino while fcgid has not spawned its first workers. */
const EARLY_LOG_MS = 100;

async function start(file: string, launch: Launch): Promise<void> {
  const config = loadOrExit(file);
  const closed = closeInheritedFds();
  // Start-up runs in two parts, so that the first workers start as early as
  // they can (docs/operations.md): what spawning needs, then the rest (pino,
  // the control and metrics servers, systemd notification) while they boot.
  const [{ Supervisor }, { StartError }, { realPort }, { DeferredLog }, { claimControlPath }, { identityProblems, said }] = await Promise.all([
    import('../supervisor/supervisor.js'),
    import('../supervisor/errors.js'),
    import('../host/real-port.js'),
    import('./deferred-log.js'),
    import('../control/claim.js'),
    import('../host/identity.js'),
  ]);
  const log = new DeferredLog(config.log.level);
  let sink: LogSink | null = null;
  /** The log's sink, opened on first use (after log.file's directory is checked, or to say why fcgid cannot start). */
  const theSink = (): LogSink => {
    if (sink) return sink;
    const toFile = config.log.file !== null;
    sink = new LogSink({
      target: config.log.file === null ? { fd: 1 } : { file: config.log.file },
      journal: !toFile && stdoutIsJournal(),
      // Not process.stdout.isTTY: making process.stdout turns a pipe on fd 1 non-blocking for everyone who shares it.
      terminal: !toFile && isatty(1),
      outputEnabled: () => OUTPUT_LEVELS.has(log.level),
      now: () => Date.now(),
      dropped: (d) => log.warn({ ...d }, droppedMessage(d)),
    });
    // SIGUSR1 reopens the log file, for logrotate.
    process.on('SIGUSR1', () => sink?.reopen());
    return sink;
  };
  /** The last lines out before an exit, waited for at most EXIT_FLUSH_MS. */
  const flushLog = (): Promise<void> => sink?.flushed(EXIT_FLUSH_MS) ?? Promise.resolve();
  if (closed.length > 0) log.debug({ fds: closed }, `closed ${closed.length} descriptor(s) inherited from the parent, so workers do not get them`);
  const rest = () =>
    Promise.all([import('pino'), import('../control/server.js'), import('../control/metrics.js'), import('../host/notify.js'), import('../fastcgi/address.js'), import('../supervisor/snapshot.js')]);
  const attachLogger = async (): Promise<void> => {
    const { default: pino } = (await rest())[0];
    if (!log.attached) log.attach(makeLogger(pino, config, theSink(), log.now));
  };
  // A start that waits before its first spawn (a predecessor's leftovers given
  // their stop_timeout, a slow DNS answer) logs as it goes all the same.
  const early = setTimeout(() => void attachLogger().catch(() => {}), EARLY_LOG_MS);
  /** Say why fcgid cannot start (logged, and one line on stderr) and exit. */
  const leave = async (message: string, code: number): Promise<never> => {
    try {
      await attachLogger();
      log.error({ err: message }, `cannot start: ${message}`);
    } catch {
      // No logger (log.file unusable): stderr says it all.
    }
    process.stderr.write(`fcgid: ${message}\n`);
    await flushLog();
    process.exit(code);
  };
  // What could stop fcgid once its workers run is checked before any starts:
  // users and groups, the control socket (if another fcgid runs this config,
  // it answers there, and this one must not touch its workers or sockets), the log file.
  const problems = identityProblems(config);
  if (problems.length > 0) await leave(problems.map(said).join('\n'), EXIT.CONFIG);
  if (config.log.file !== null) {
    try {
      // fcgid appends to it by name, as root: no one else may choose what that name is.
      trustedDir(dirname(config.log.file), 'private', 0o755, 'log.file');
      closeSync(openSync(config.log.file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o640));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      await leave(e.name === 'DirError' ? e.message : `log.file ${config.log.file}: ${e.code === 'ELOOP' ? 'a symlink (fcgid does not follow one there)' : (e.code ?? e.message)}; fix its directory or permissions`, EXIT.FAILED);
    }
  }
  try {
    await claimControlPath(config.control.socket, config.file);
  } catch (err) {
    await leave((err as Error).message, EXIT.FAILED);
  }
  const sup = new Supervisor(config, log, { ...realPort(config, log), output: theSink() });
  // Handlers only hand the signal to the loop (gunicorn's arbiter does the same).
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => sup.step({ type: 'signal', signal }));
  const launched = new Promise<void>((resolve) => (sup.hooks.launched = resolve));
  const starting = sup.start();
  await Promise.race([launched, starting.catch(() => {})]);
  let control: ControlServer | null = null;
  let metrics: http.Server | null = null;
  let notifier: Notifier | null = null;
  try {
    const [, { ControlServer }, { metricsServer }, { Notifier }, { formatAddress, netOptions }, snapshots] = await rest();
    clearTimeout(early);
    await attachLogger();
    control = new ControlServer(sup, { path: config.control.socket, mode: config.control.mode, group: config.control.group, version: VERSION });
    await control.listen();
    await starting;
    if (sup.state === 'running') {
      if (config.metrics.listen !== null) {
        const where = config.metrics.listen;
        const server = metricsServer(() => sup.snapshot());
        metrics = await new Promise<http.Server | null>((resolve) => {
          server.once('error', (err: NodeJS.ErrnoException) => {
            log.error({ err: err.message }, `metrics.listen ${formatAddress(where)}: ${err.code ?? err.message}; metrics stay available on the control socket`);
            resolve(null);
          });
          server.listen(netOptions(where), () => resolve(server));
        });
      }
      notifier = new Notifier({ warn: (f, m) => log.warn(f, m), debug: (f, m) => log.debug(f, m) });
      running(sup, notifier, snapshots, log);
      log.info(
        { version: VERSION, config: config.file, control: config.control.socket },
        `fcgid ${VERSION} running ${config.pools.length} pool${config.pools.length === 1 ? '' : 's'} from ${config.file}; control socket ${config.control.socket}`,
      );
      // Said once the workers are up: it takes a few `id` lookups.
      const { webServerWarnings } = await import('../host/reach.js');
      const fcgidIds = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, umask: process.umask() };
      for (const w of webServerWarnings(config, fcgidIds)) log.warn({ config: config.file }, w);
      // Everything start-up runs is compiled now: keep it for the next start.
      const saved = launch.saveCodeCache();
      const outcome = saved === 'written' ? '; written for the next start' : saved === 'current' ? '' : `; not written (${saved.failed})`;
      log.debug({ code_cache: launch.cache, saved: typeof saved === 'string' ? saved : 'failed' }, `code cache: ${launch.cache}${outcome}`);
    }
  } catch (err) {
    // Workers may run by now (a control socket taken since the check, by an
    // fcgid started at the same moment): stop them before leaving.
    if (sup.pools.live.size > 0) {
      await sup.command({ kind: 'shutdown', why: 'start-up failed' });
      await sup.stopped;
    }
    await control?.close();
    if (err instanceof StartError) await leave(err.message, err.exitCode);
    await leave(err instanceof Error ? (err.stack ?? err.message) : String(err), EXIT.FAILED);
  }
  await sup.stopped;
  notifier?.stop();
  await notifier?.flushed();
  metrics?.close();
  await control?.close();
  await flushLog();
  process.exit(sup.failure === null ? EXIT.OK : EXIT.FAILED);
}

/** systemd: READY=1 once every pool's workers count as started (or visibly failed), STATUS= as they change. */
function running(sup: Supervisor, notifier: Notifier, { settled, summaryLine }: typeof import('../supervisor/snapshot.js'), log: Log): void {
  let ready = false;
  const announce = (): void => {
    if (!notifier.enabled) return;
    const snap = sup.snapshot();
    notifier.status(summaryLine(snap));
    if (!ready && snap.state === 'running' && settled(snap)) {
      ready = true;
      void notifier.send({ READY: '1', STATUS: summaryLine(snap) });
    }
  };
  sup.hooks = {
    ...sup.hooks,
    changed: announce,
    reloading: () => void notifier.send({ RELOADING: '1', STATUS: 'reloading the config' }),
    reloaded: () => void notifier.send({ READY: '1', STATUS: summaryLine(sup.snapshot()) }),
    stopping: () => void notifier.send({ STOPPING: '1', STATUS: 'stopping workers' }),
  };
  const watchdogMs = notifier.startWatchdog();
  if (watchdogMs !== null) log.info({ every_ms: watchdogMs }, `systemd watchdog: pinging every ${watchdogMs}ms`);
  announce();
}

export function fcgidProgram(launch: Launch): Command {
  const program = new Command('fcgid')
    .description('Process manager for FastCGI applications: pools of pre-forked workers on a shared socket')
    .version(VERSION, '-V, --version')
    .showHelpAfterError();

  program
    .command('start')
    .description('run the pools of a config in the foreground until SIGTERM or SIGINT')
    .requiredOption('-c, --config <file>', 'YAML config file')
    .action(async (opts: { config: string }) => start(opts.config, launch));

  program
    .command('check')
    .description('validate a config and print it with every default filled in; starts nothing')
    .requiredOption('-c, --config <file>', 'YAML config file')
    .option('--json', 'print JSON instead of YAML')
    .action(async (opts: { config: string; json?: boolean }) => {
      const [{ configView }, { stringify }, { identityProblems, said }] = await Promise.all([import('../config/view.js'), import('yaml'), import('../host/identity.js')]);
      const config = loadOrExit(opts.config);
      // Judged as fcgid would run under systemd, as root; said when this user could not start it so.
      const problems = identityProblems(config, true);
      if (problems.length > 0) {
        process.stderr.write(`${problems.map((p) => `${basename(config.file)}: ${said(p)}`).join('\n')}\nfcgid: ${problems.length} problem${problems.length === 1 ? '' : 's'} in ${opts.config}; nothing was started\n`);
        process.exit(EXIT.CONFIG);
      }
      const { webServerWarnings } = await import('../host/reach.js');
      for (const w of webServerWarnings(config)) process.stderr.write(`${basename(config.file)}: ${w}\n`);
      if (process.getuid?.() !== 0 && config.pools.some((p) => p.user !== null || p.group !== null)) {
        process.stderr.write(`fcgid: note: pools with user or group need fcgid started as root (this check ran as uid ${process.getuid?.()})\n`);
      }
      const view = configView(config);
      process.stdout.write(opts.json ? JSON.stringify(view, null, 2) + '\n' : stringify(view));
    });

  program
    .command('web-config')
    .description("print the web server's config for a pool: nginx, apache (mod_proxy_fcgi) or lighttpd")
    .argument('<server>', 'nginx, apache or lighttpd')
    .argument('[pool]', 'the pool (may be left out when the config has one)')
    .requiredOption('-c, --config <file>', 'YAML config file')
    .option('--htaccess', "Apache: the .htaccess for the mount's directory instead of a virtual host")
    .option('--listen <port>', 'where the web server listens: a port, or address:port', '80')
    .option('--server-name <name>', 'the site\'s host name (default: any)')
    .option('--web-user <user>', "the user the web server's workers run as (default: read from its installed config)")
    .action(async (server: string, poolName: string | undefined, opts: { config: string; htaccess?: boolean; listen: string; serverName?: string; webUser?: string }) => {
      const [{ WEB_SERVERS, socketReach, webServerUser }, { cannotGenerate, webServerConfig }, { said }] = await Promise.all([import('../host/reach.js'), import('../web/generate.js'), import('../host/identity.js')]);
      const usage = (message: string): never => {
        process.stderr.write(`fcgid web-config: ${message}\n`);
        process.exit(EXIT.CONFIG);
      };
      const which = WEB_SERVERS.find((s) => s === server) ?? usage(`no web server ${JSON.stringify(server)}; one of ${WEB_SERVERS.join(', ')}`);
      if (!/^(\d{1,5}|[\w.:[\]-]{1,255}:\d{1,5})$/.test(opts.listen)) usage(`--listen ${JSON.stringify(opts.listen)}: expected a port (80) or address:port (127.0.0.1:8080)`);
      if (opts.serverName !== undefined && !/^[\w.*-]{1,255}$/.test(opts.serverName)) usage(`--server-name ${JSON.stringify(opts.serverName)}: expected a host name`);
      const config = loadOrExit(opts.config);
      const pool = pickPool(config, opts.config, poolName, usage);
      const why = cannotGenerate(pool, { server: which, htaccess: opts.htaccess });
      if (why) usage(why);
      const user = opts.webUser ? { name: opts.webUser, from: '--web-user' } : webServerUser(which);
      const reach = socketReach(pool, user.name);
      process.stdout.write(webServerConfig(pool, { server: which, htaccess: opts.htaccess, listen: opts.listen, serverName: opts.serverName ?? null, user, reach, configFile: config.file }));
      for (const p of reach.problems) process.stderr.write(`fcgid web-config: warning: ${said(p)}\n`);
    });

  addImportCommand(program);
  addDoctorCommand(program);

  return program;
}

/** Run by bin/fcgid through src/cli/launch.cts. */
export const main: Main = async (argv, launch) => {
  await fcgidProgram(launch).parseAsync(argv);
};
