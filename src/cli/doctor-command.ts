// `fcgid doctor -c app.yaml [POOL] [PATH]`: runs one worker of a pool as
// `fcgid start` would, on a private socket, sends it the request a web server
// would send for PATH, and says what is wrong and how to fix it
// (docs/doctor.md). Exit 0 healthy, 1 broken (at least one diagnosis), 2 for a
// config or command-line error. src/doctor/ is imported inside the action:
// `fcgid start` never loads it.

import type { Command } from 'commander';
import { parseDuration } from '../config/units.js';

const EXIT = { HEALTHY: 0, BROKEN: 1, USAGE: 2 } as const;
/** --timeout's bound: a doctor that may wait longer would look hung. */
const MAX_TIMEOUT_MS = 10 * 60_000;
const MAX_PATH = 8 * 1024;

interface DoctorOpts {
  config: string;
  timeout: string;
  webUser?: string;
  json?: boolean;
}

export function addDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description("run one worker of a pool as fcgid start would, on a private socket; send it the web server's request; say what is wrong and how to fix it")
    .argument('[pool]', 'the pool (may be left out when the config has one)')
    .argument('[path]', "the URL path to request (default: the pool's web.mount)")
    .requiredOption('-c, --config <file>', 'YAML config file')
    .option('--timeout <duration>', 'how long to wait for the answer: 10s, 500ms, or a number of seconds', '10s')
    .option('--web-user <user>', "the user the web server's workers run as (default: read from the installed servers' configs)")
    .option('--json', 'print one JSON document instead of the report')
    .action(async (pool: string | undefined, path: string | undefined, opts: DoctorOpts) => {
      try {
        await doctor(pool, path, opts);
      } catch (err) {
        // Never a stack trace: what failed, in one line.
        fail(`${(err as Error).message ?? String(err)}`, EXIT.BROKEN);
      }
    });
}

function fail(message: string, code: number): never {
  process.stderr.write(`fcgid doctor: ${message}\n`);
  process.exit(code);
}

async function doctor(poolName: string | undefined, path: string | undefined, opts: DoctorOpts): Promise<void> {
  // Pool names never hold a slash, paths always start with one: `fcgid doctor -c app.yaml /news/1`.
  if (path === undefined && poolName?.startsWith('/')) [poolName, path] = [undefined, poolName];
  if (path !== undefined && (!path.startsWith('/') || path.length > MAX_PATH || /[\x00-\x20\x7f]/.test(path))) {
    fail(`path ${JSON.stringify(path.slice(0, 80))}: expected a URL path such as / or /index.php?x=1 (no spaces), at most ${MAX_PATH} bytes`, EXIT.USAGE);
  }
  const timeout = parseDuration(opts.timeout);
  if (!timeout.ok || timeout.value <= 0 || timeout.value > MAX_TIMEOUT_MS) {
    fail(`--timeout ${JSON.stringify(opts.timeout)}: expected a duration from 1ms to 10m, such as 10s or 500ms`, EXIT.USAGE);
  }
  if (opts.webUser !== undefined && !/^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,63}\$?$/.test(opts.webUser)) {
    fail(`--web-user ${JSON.stringify(opts.webUser.slice(0, 80))}: expected a user name`, EXIT.USAGE);
  }

  const [{ closeInheritedFds }, { loadOrExit, pickPool }, { Cleanup }, { examine }, { diagnose }, { document, text }] = await Promise.all([
    import('../host/inherited-fds.js'),
    import('./config-file.js'),
    import('../doctor/cleanup.js'),
    import('../doctor/examine.js'),
    import('../doctor/diagnose.js'),
    import('../doctor/report.js'),
  ]);
  // As `fcgid start` does: descriptors inherited from the shell must not reach the worker.
  closeInheritedFds();
  const config = loadOrExit(opts.config);
  const pool = pickPool(config, opts.config, poolName, (message) => fail(message, EXIT.USAGE));
  if (opts.webUser !== undefined) {
    const { resolveUser } = await import('../host/identity.js');
    if (resolveUser(opts.webUser) === null) fail(`--web-user ${opts.webUser}: no such user here`, EXIT.USAGE);
  }
  if (process.getuid?.() !== 0 && (pool.user !== null || pool.group !== null)) {
    fail(`pool ${pool.name} runs as ${pool.user ?? ''}${pool.group ? `:${pool.group}` : ''}: run the doctor as root, as fcgid runs (sudo fcgid doctor …)`, EXIT.USAGE);
  }

  const cleanup = new Cleanup();
  cleanup.arm();
  let observation;
  try {
    observation = await examine(config, pool, { path: path ?? null, timeoutMs: timeout.value, webUser: opts.webUser ?? null }, cleanup);
  } finally {
    cleanup.run();
    cleanup.disarm();
  }
  const diagnoses = diagnose(observation);
  const out = opts.json ? `${JSON.stringify(document(observation, diagnoses), null, 2)}\n` : text(observation, diagnoses);
  const code = diagnoses.length === 0 ? EXIT.HEALTHY : EXIT.BROKEN;
  // Exit once the report is out: a pipe takes it asynchronously.
  process.stdout.write(out, () => process.exit(code));
}
