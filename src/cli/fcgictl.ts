// `fcgictl`: controls a running fcgid over its control socket, and talks
// FastCGI straight to any socket with -a (what people use `cgi-fcgi -bind
// -connect` for today). Every failure is one line that says what to do; exit
// statuses are in docs/fcgictl.md.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseSignal } from '../config/units.js';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ControlClient, ControlError, EXIT, locate } from '../control/client.js';
import type { FastCGIError } from '../fastcgi/errors.js';
import type { DaemonStatus, FastCGIResponse, LogEntry, PingResponse, PingResult, ReloadResponse, RestartResponse, SignalResponse } from '../control/wire.js';
import { reloadText } from '../supervisor/reload-plan.js';
import { renderStatus } from './format.js';
import type { Main } from './launch.cjs';
import { VERSION } from './version.js';

function fail(err: unknown): never {
  if (err instanceof ControlError) {
    process.stderr.write(`fcgictl: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  const e = err as FastCGIError;
  process.stderr.write(`fcgictl: ${e.message}\n`);
  process.exit(e.code === 'FCGI_CONNECT_FAILED' || e.code === 'FCGI_CONNECT_TIMEOUT' ? EXIT.NOT_RUNNING : EXIT.FAILED);
}

/** `fcgictl status`'s exit status: the worst pool wins (docs/fcgictl.md). */
export function statusExit(status: DaemonStatus): number {
  const states = new Set(status.pools.map((p) => p.state));
  return states.has('failed') ? EXIT.POOL_FAILED : states.has('degraded') ? EXIT.DEGRADED : EXIT.OK;
}

/** A signal name as the daemon takes it (SIGHUP); a usage error for one Node does not know. */
function signalName(value: string): string {
  const signal = parseSignal(value);
  if (!signal.ok) throw new InvalidArgumentError(`no signal named ${JSON.stringify(value)}; use a name such as HUP, USR1 or TERM (kill -l lists them)`);
  return signal.value;
}

function repeatable(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function positiveInt(value: string): number {
  const n = Number(value);
  // InvalidArgumentError: commander reports it as a usage error rather than crashing with a stack trace.
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a whole number, got ${value}`);
  return n;
}

interface RequestOpts {
  address?: string;
  method: string;
  header: string[];
  data?: string;
  scriptFilename?: string;
  mount?: string;
  kind?: string;
  root?: string;
  param: string[];
  include?: boolean;
  timeout: number;
}

export function fcgictlProgram(): Command {
  const program = new Command('fcgictl')
    .description('Control a running fcgid, or talk FastCGI to any socket')
    .version(VERSION, '-V, --version')
    .option('-s, --socket <path>', 'control socket of the fcgid to talk to')
    .option('-c, --config <file>', 'find the control socket from this fcgid config')
    .showHelpAfterError()
    // Commander exits 1 on a usage error (unknown command, missing argument);
    // fcgictl's documented status for those is 2, and 1 means "the command failed".
    // Set before the commands are defined: subcommands inherit it.
    .exitOverride((err) => process.exit(err.exitCode === 1 ? EXIT.USAGE : err.exitCode));

  const control = async (): Promise<ControlClient> => new ControlClient(await locate(program.opts<{ socket?: string; config?: string }>()));
  const run =
    <A extends unknown[]>(fn: (...args: A) => Promise<void>) =>
    async (...args: A): Promise<void> => {
      try {
        await fn(...args);
      } catch (err) {
        fail(err);
      }
    };

  program
    .command('status')
    .description('pools and workers: state, pid, uptime, restarts, last exit, RSS, CPU%')
    .argument('[pool]', 'only this pool')
    .option('--json', 'the status document (schema in docs/control-api.md)')
    .option('-w, --watch [seconds]', 'redraw every N seconds (default 2) until interrupted')
    .action(
      run(async (pool: string | undefined, opts: { json?: boolean; watch?: string | boolean }) => {
        const client = await control();
        const path = `/v1/status${pool ? `?pool=${encodeURIComponent(pool)}` : ''}`;
        const show = async (): Promise<DaemonStatus> => {
          const status = await client.call<DaemonStatus>('GET', path);
          if (opts.json) process.stdout.write(JSON.stringify(status) + '\n');
          else {
            if (opts.watch && process.stdout.isTTY) process.stdout.write('\x1b[H\x1b[2J');
            process.stdout.write(renderStatus(status, process.stdout.isTTY === true) + '\n');
          }
          return status;
        };
        const first = await show();
        if (!opts.watch) return void (process.exitCode = statusExit(first));
        const seconds = opts.watch === true ? 2 : Number(opts.watch);
        for (;;) {
          await new Promise((r) => setTimeout(r, Math.max(0.2, seconds) * 1000));
          await show();
        }
      }),
    );

  program
    .command('restart')
    .description('rolling restart: replacements start first, old workers stop once they count as started; also clears fatal slots')
    .argument('[pools...]', 'pools to restart (default: all)')
    .addOption(new Option('--batch <n>', 'slots turned over at once').argParser(positiveInt))
    .option('--hard', 'stop every worker, then start them all')
    .action(
      run(async (pools: string[], opts: { batch?: number; hard?: boolean }) => {
        const r = await (await control()).call<RestartResponse>('POST', '/v1/restart', {
          pools,
          batch: opts.batch,
          hard: opts.hard === true,
        });
        let failed = false;
        for (const x of r.results) {
          const workers = `${x.replaced} worker${x.replaced === 1 ? '' : 's'} replaced`;
          if (x.failed.length === 0) {
            process.stdout.write(`${x.pool}: ${workers}\n`);
            continue;
          }
          failed = true;
          const kept = x.failed.filter((i) => x.kept.includes(i));
          const down = x.failed.filter((i) => !x.kept.includes(i));
          const parts = [
            down.length ? `slot${down.length === 1 ? '' : 's'} ${down.join(', ')} did not start` : '',
            kept.length ? `the replacement${kept.length === 1 ? '' : 's'} for slot${kept.length === 1 ? '' : 's'} ${kept.join(', ')} did not start (the old worker${kept.length === 1 ? ' keeps' : 's keep'} serving)` : '',
          ].filter(Boolean);
          const tail = x.stderr_tail.length ? `; its last stderr lines:\n  ${x.stderr_tail.join('\n  ')}` : '; it wrote nothing on stderr';
          process.stderr.write(`fcgictl: ${x.pool}: ${workers}; ${parts.join('; ')} (see fcgictl status ${x.pool} and fcgictl logs ${x.pool})${tail}\n`);
        }
        if (failed) process.exitCode = EXIT.FAILED;
      }),
    );

  program
    .command('reload')
    .description('re-read the config; apply only what changed (an invalid file changes nothing)')
    .option('--json', 'print what changed as JSON (schema in docs/control-api.md)')
    .action(
      run(async (opts: { json?: boolean }) => {
        try {
          const r = await (await control()).call<ReloadResponse>('POST', '/v1/reload');
          process.stdout.write(opts.json ? JSON.stringify(r) + '\n' : `reloaded: ${reloadText(r)}\n`);
        } catch (err) {
          if (err instanceof ControlError && err.body) {
            process.stderr.write(`fcgictl: reload refused; fcgid keeps running the previous config:\n${err.message}\n`);
            process.exit(EXIT.FAILED);
          }
          throw err;
        }
      }),
    );

  program
    .command('scale')
    .description('set the number of workers of a pool (the others keep running)')
    .argument('<pool>')
    .argument('<workers>', 'number of workers', positiveInt)
    .action(
      run(async (pool: string, workers: number) => {
        const r = await (await control()).call<{ pool: string; workers: number }>('POST', `/v1/pools/${encodeURIComponent(pool)}/scale`, { workers });
        process.stdout.write(`${r.pool}: ${r.workers} worker${r.workers === 1 ? '' : 's'} wanted\n`);
      }),
    );

  for (const verb of ['stop', 'start'] as const) {
    program
      .command(verb)
      .description(verb === 'stop' ? "stop a pool's workers (its socket stays open: connections wait in the backlog)" : "start a stopped pool's workers")
      .argument('<pool>')
      .action(
        run(async (pool: string) => {
          const r = await (await control()).call<{ pool: string; wanted: number }>('POST', `/v1/pools/${encodeURIComponent(pool)}/${verb}`);
          process.stdout.write(verb === 'stop' ? `${r.pool}: stopping its workers (the socket stays open)\n` : `${r.pool}: ${r.wanted} worker${r.wanted === 1 ? '' : 's'} wanted\n`);
        }),
      );
  }

  program
    .command('signal')
    .description("send a signal to every worker's process group in a pool")
    .argument('<pool>')
    .argument('<signal>', 'e.g. HUP, SIGUSR1', signalName)
    .action(
      run(async (pool: string, signal: string) => {
        const r = await (await control()).call<SignalResponse>('POST', `/v1/pools/${encodeURIComponent(pool)}/signal`, { signal });
        process.stdout.write(`${r.signal} sent to ${r.pids.length ? r.pids.join(', ') : 'no worker'}\n`);
      }),
    );

  program
    .command('logs')
    .description("the last lines of the workers' output and of fcgid's events (kept in memory, per pool)")
    .argument('[pool]')
    .addOption(new Option('-n, --lines <n>', 'how many').default(100).argParser(positiveInt))
    .option('-f, --follow', 'keep printing new lines')
    .option('--json', 'one JSON object per line')
    .action(
      run(async (pool: string | undefined, opts: { lines: number; follow?: boolean; json?: boolean }) => {
        const q = new URLSearchParams({ n: String(opts.lines) });
        if (pool) q.set('pool', pool);
        if (opts.follow) q.set('follow', '1');
        await (await control()).stream(`/v1/logs?${q}`, (line) => {
          if (opts.json) return void process.stdout.write(line + '\n');
          const e = JSON.parse(line) as LogEntry;
          const who = e.worker === undefined ? e.pool : `${e.pool}/${e.worker}${e.pid ? ` ${e.pid}` : ''}`;
          process.stdout.write(`${e.time} ${who}${e.stream ? ` ${e.stream}` : ''}: ${e.msg}\n`);
        });
      }),
    );

  program
    .command('ping')
    .description("FCGI_GET_VALUES through a pool's own socket (or any socket with -a); exit 0 when every one answers")
    .argument('[pool]')
    .option('-a, --address <address>', 'ask this FastCGI socket directly instead: unix:/path or tcp://host:port')
    .addOption(new Option('--timeout <ms>', 'give up after this long (with -a)').default(5000).argParser(Number))
    .option('--json', 'print JSON')
    .action(
      run(async (pool: string | undefined, opts: { address?: string; timeout: number; json?: boolean }) => {
        if (opts.address) {
          // The FastCGI library is loaded only for -a: most commands talk to the control socket.
          const { FastCGIClient } = await import('../fastcgi/client.js');
          const client = new FastCGIClient({ address: opts.address, timeout: opts.timeout, connectTimeout: opts.timeout });
          const values = await client.getValues();
          if (opts.json) process.stdout.write(JSON.stringify({ address: client.label, values: Object.fromEntries(values) }) + '\n');
          else process.stdout.write(`${client.label}: ok ${[...values].map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
          return;
        }
        let results: PingResult[];
        try {
          results = (await (await control()).call<PingResponse>('GET', `/v1/ping${pool ? `?pool=${encodeURIComponent(pool)}` : ''}`)).results;
        } catch (err) {
          const body = err instanceof ControlError ? (err.body as { error?: { results?: PingResult[] } } | undefined) : undefined;
          if (!body?.error?.results) throw err;
          results = body.error.results;
          process.exitCode = EXIT.FAILED;
        }
        if (opts.json) process.stdout.write(JSON.stringify({ results }) + '\n');
        else for (const r of results) process.stdout.write(`${r.pool}: ${r.ok ? `ok in ${r.ms}ms` : `FAILED: ${r.error}`}\n`);
      }),
    );

  program
    .command('request')
    .description("send one FastCGI request through a pool's socket (or any socket with -a) and print the response")
    .argument('[pool]', 'pool to send it through (omit with -a)')
    .argument('[path]', 'request URI, e.g. /index.php?x=1')
    .option('-a, --address <address>', 'FastCGI socket to talk to directly: unix:/path or tcp://host:port')
    .option('-X, --method <method>', 'request method', 'GET')
    .option('-H, --header <header>', "request header 'Name: value' (repeatable)", repeatable, [])
    .option('-d, --data <body>', 'request body, or @FILE to read it from a file')
    .option('--mount <prefix>', "URL prefix the app is mounted at (default: the pool's web.mount, or / with -a)")
    .option('--kind <kind>', "app, php or cgi: how SCRIPT_NAME, PATH_INFO and SCRIPT_FILENAME are built (default: the pool's web.kind, or app with -a)")
    .option('--root <dir>', "document root php and cgi scripts are under (default: the pool's web.root, or the current directory with -a)")
    .option('--script-filename <path>', 'SCRIPT_FILENAME, instead of the one built from the root')
    .option('-p, --param <NAME=value>', 'extra FastCGI param (repeatable)', repeatable, [])
    .option('-i, --include', 'print the status line and headers before the body')
    .addOption(new Option('--timeout <ms>', 'give up after this long without output').default(30000).argParser(Number))
    .action(
      run(async (pool: string | undefined, path: string | undefined, opts: RequestOpts) => {
        if (path === undefined) {
          // One argument: it is the path (with -a), not a pool.
          path = pool;
          pool = undefined;
        }
        if (!path) program.error('fcgictl: request needs a PATH', { exitCode: EXIT.USAGE });
        const url: string = path!;
        if (!pool && !opts.address) program.error('fcgictl: request needs a POOL, or -a ADDRESS to talk to a socket directly', { exitCode: EXIT.USAGE });
        const body: Buffer | undefined = opts.data === undefined ? undefined : opts.data.startsWith('@') ? readFileSync(opts.data.slice(1)) : Buffer.from(opts.data);
        const headers: Record<string, string> = {};
        for (const h of opts.header as string[]) {
          const colon = h.indexOf(':');
          if (colon <= 0) program.error(`fcgictl: header ${JSON.stringify(h)} should look like 'Name: value'`, { exitCode: EXIT.USAGE });
          headers[h.slice(0, colon).trim()] = h.slice(colon + 1).trim();
        }
        const params: Record<string, string> = {};
        for (const p of opts.param as string[]) {
          const eq = p.indexOf('=');
          if (eq <= 0) program.error(`fcgictl: param ${JSON.stringify(p)} should look like NAME=value`, { exitCode: EXIT.USAGE });
          params[p.slice(0, eq)] = p.slice(eq + 1);
        }
        if (opts.scriptFilename) params.SCRIPT_FILENAME = opts.scriptFilename;
        let res: { status: number; statusText: string; rawHeaders: Array<[string, string]>; body: Buffer; stderr: Buffer; appStatus: number };
        if (opts.address) {
          const [{ FastCGIClient }, { overrideWeb, webParams }] = await Promise.all([import('../fastcgi/client.js'), import('../web/params.js')]);
          let web;
          try {
            web = overrideWeb({ mount: '/', kind: 'app', root: process.cwd(), static: {} }, { mount: opts.mount, kind: opts.kind, root: opts.root && resolve(opts.root) });
          } catch (err) {
            program.error(`fcgictl: ${(err as Error).message}`, { exitCode: EXIT.USAGE });
          }
          const client = new FastCGIClient({ address: opts.address, keepConn: false, timeout: opts.timeout });
          try {
            res = await client.fetch({ params: webParams(web!, { method: opts.method, url, headers, contentLength: body?.length, params }), body });
          } finally {
            client.close();
          }
        } else {
          const r = await (await control()).call<FastCGIResponse>(
            'POST',
            `/v1/pools/${encodeURIComponent(pool!)}/request`,
            { method: opts.method, path: url, headers, params, body: body?.toString('base64'), timeout_ms: opts.timeout, mount: opts.mount, kind: opts.kind, root: opts.root && resolve(opts.root) },
          );
          res = { status: r.status, statusText: r.status_text, rawHeaders: r.headers, body: Buffer.from(r.body, 'base64'), stderr: Buffer.from(r.stderr), appStatus: r.app_status };
        }
        if (opts.include) {
          let head = `Status: ${res.status}${res.statusText ? ' ' + res.statusText : ''}\n`;
          for (const [name, value] of res.rawHeaders) head += `${name}: ${value}\n`;
          process.stdout.write(head + '\n');
        }
        process.stdout.write(res.body);
        if (res.stderr.length > 0) process.stderr.write(res.stderr);
        process.exitCode = res.status >= 400 || res.appStatus !== 0 ? EXIT.FAILED : EXIT.OK;
      }),
    );

  program
    .command('shutdown')
    .description('stop every worker and the daemon (like SIGTERM)')
    .action(run(async () => void (await (await control()).call('POST', '/v1/shutdown'))));

  return program;
}

/** Run by bin/fcgictl through src/cli/launch.cts. */
export const main: Main = async (argv, launch) => {
  const program = fcgictlProgram();
  // The code cache is kept at exit (fail() exits early) once a command ran:
  // one kept after a bare --help or --version would hold almost nothing.
  program.hook('preAction', () => void process.once('exit', () => launch.saveCodeCache()));
  await program.parseAsync(argv);
};
