// `fcgid import`: reads a peer's config (supervisord, php-fpm, spawn-fcgi,
// lighttpd, Apache) and writes the equivalent fcgid YAML, with a comment for
// each setting that has no equivalent (src/migrate/). The YAML goes to stdout
// or -o FILE, a summary of the comments to stderr. Exit 0; 2 when the input
// cannot be read; 1 when -o names a file that exists (without --force).
// src/migrate/ is imported inside the action: `fcgid start` never loads it.

import type { Command } from 'commander';
import { statSync, writeFileSync } from 'node:fs';
import { LIMITS } from '../config/types.js';
import { basename, dirname, resolve } from 'node:path';

/** The same list as src/migrate/draft.ts FORMATS (a unit test keeps them equal), here so that --help needs no import. */
export const IMPORT_FORMATS = ['supervisord', 'php-fpm', 'spawn-fcgi', 'lighttpd', 'apache'] as const;
/** The input's bound, as for a config file (LIMITS.configBytes). */
const MAX_BYTES = LIMITS.configBytes;
const EXIT = { OK: 0, FAILED: 1, UNREADABLE: 2 } as const;

interface ImportOptions {
  from?: string;
  output?: string;
  force?: boolean;
}

export function addImportCommand(program: Command): void {
  program
    .command('import')
    .description(
      'write the fcgid config equivalent to a supervisord, php-fpm, spawn-fcgi, lighttpd or Apache config, with a comment for each setting that has none',
    )
    .argument('<file>', 'the config to read (- for standard input)')
    .option('--from <format>', `what FILE is: ${IMPORT_FORMATS.join(', ')} (default: recognized from its content)`)
    .option('-o, --output <file>', 'write the YAML to this file instead of stdout')
    .option('--force', 'with -o, overwrite the file if it exists')
    .action(async (file: string, opts: ImportOptions) => runImport(file, opts));
}

function fail(message: string, code: number): never {
  process.stderr.write(`fcgid: ${message}\n`);
  process.exit(code);
}

async function runImport(file: string, opts: ImportOptions): Promise<void> {
  if (opts.from !== undefined && !(IMPORT_FORMATS as readonly string[]).includes(opts.from)) {
    fail(`--from ${opts.from}: expected one of ${IMPORT_FORMATS.join(', ')}`, EXIT.UNREADABLE);
  }
  const source = file === '-' ? '-' : resolve(file);
  const text = file === '-' ? await readStdin() : await readFile(source, file);
  const [{ migrate, MigrateError }, { ConfigError, parseConfig }] = await Promise.all([import('../migrate/index.js'), import('../config/load.js')]);
  let result: ReturnType<typeof migrate>;
  try {
    result = migrate((opts.from as Parameters<typeof migrate>[0]) ?? null, text, source);
  } catch (err) {
    if (err instanceof MigrateError) fail(err.message, EXIT.UNREADABLE);
    // Never a stack trace: what failed, and that it is fcgid's fault.
    fail(`import failed: ${(err as Error).message ?? String(err)} (a bug in fcgid import; please report it with the input)`, EXIT.FAILED);
  }

  const out = opts.output === undefined ? null : resolve(opts.output);
  if (out === null) process.stdout.write(result.yaml);
  else {
    try {
      writeFileSync(out, result.yaml, { flag: opts.force ? 'w' : 'wx', mode: 0o644 });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      fail(
        e.code === 'EEXIST'
          ? `${opts.output} exists; choose another file or add --force to overwrite it`
          : `cannot write ${opts.output}: ${e.code ?? e.message}`,
        EXIT.FAILED,
      );
    }
  }

  const from = file === '-' ? 'standard input' : basename(file);
  const to = out === null ? '' : ` into ${opts.output}`;
  const lines = [
    `fcgid: imported ${result.pools.length} pool${result.pools.length === 1 ? '' : 's'} (${result.pools.join(', ')}) from ${from} (${result.format})${to}`,
  ];
  if (result.notes.length > 0) {
    lines.push(
      `fcgid: ${result.notes.length} note${result.notes.length === 1 ? '' : 's'} to review, each a # comment in the output:`,
      ...result.notes.map((n) => `  ${n}`),
    );
  }
  // The output must pass `fcgid check`; if some input made it not, say so now rather than at start.
  try {
    parseConfig(result.yaml, out ?? (source === '-' ? resolve('imported.yaml') : resolve(dirname(source), 'imported.yaml')));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    lines.push('fcgid: the output does not pass fcgid check yet; fix these first:', ...err.issues.map((i) => `  ${i.path ? `${i.path}: ` : ''}${i.message}`));
  }
  process.stderr.write(`${lines.join('\n')}\n`);
}

/** The file's text, as a config file is read (at most 1 MiB); exit 2 with one line when it cannot be read or is bigger. */
async function readFile(path: string, given: string): Promise<string> {
  const { readBounded } = await import('../config/load.js');
  try {
    if (statSync(path).isDirectory()) fail(`${given} is a directory; give the config file itself`, EXIT.UNREADABLE);
    return readBounded(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { size?: number };
    if (e.code === 'EFBIG') tooBig(given, e.size ?? null);
    fail(`${given}: cannot read it (${e.code ?? e.message}); check the path`, EXIT.UNREADABLE);
  }
}

function tooBig(given: string, size: number | null): never {
  const what = size === null ? `more than ${MAX_BYTES.toLocaleString('en-US')} bytes` : `${size.toLocaleString('en-US')} bytes`;
  fail(`${given}: ${what}; fcgid import reads at most ${MAX_BYTES.toLocaleString('en-US')} (1 MiB): give it the config file itself`, EXIT.UNREADABLE);
}

/** Standard input, at most MAX_BYTES. */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of process.stdin) {
    const b = chunk as Buffer;
    n += b.length;
    if (n > MAX_BYTES) tooBig('standard input', null);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}
