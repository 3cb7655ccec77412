// `fcgictl`: talks to a running fcgid, or straight to a FastCGI socket with
// --address (what people use `cgi-fcgi -bind -connect` for today).
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { FastCGIClient, type FastCGIError } from '../fastcgi/index.js';
import { cgiParams } from '../fastcgi/params.js';
import { VERSION } from './version.js';

/** Exit statuses, documented in docs/fcgictl.md. */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2, UNREACHABLE: 3 } as const;

function fail(err: unknown): never {
  const e = err as FastCGIError;
  process.stderr.write(`fcgictl: ${e.message}\n`);
  process.exit(e.code === 'FCGI_CONNECT_FAILED' || e.code === 'FCGI_CONNECT_TIMEOUT' ? EXIT.UNREACHABLE : EXIT.FAILED);
}

function collectHeader(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function fcgictlProgram(): Command {
  const program = new Command('fcgictl')
    .description('Control a running fcgid, or talk FastCGI to any socket')
    .version(VERSION, '-V, --version')
    .showHelpAfterError();

  program
    .command('request')
    .description('send one FastCGI request and print the response (status and headers with -i)')
    .argument('<path>', 'request URI, e.g. /index.php?x=1')
    .requiredOption('-a, --address <address>', 'FastCGI socket: unix:/path or tcp://host:port')
    .option('-X, --method <method>', 'request method', 'GET')
    .option('-H, --header <header>', "request header 'Name: value' (repeatable)", collectHeader, [])
    .option('-d, --data <body>', 'request body, or @FILE to read it from a file')
    .option('--script-filename <path>', 'SCRIPT_FILENAME, which php-cgi and fcgiwrap need')
    .option('-p, --param <NAME=value>', 'extra FastCGI param (repeatable)', collectHeader, [])
    .option('-i, --include', 'print the status line and headers before the body')
    .addOption(new Option('--timeout <ms>', 'give up after this long without output').default(30000).argParser(Number))
    .action(async (path: string, opts) => {
      const body = opts.data === undefined ? undefined : opts.data.startsWith('@') ? readFileSync(opts.data.slice(1)) : Buffer.from(opts.data);
      const headers: Record<string, string> = {};
      for (const h of opts.header as string[]) {
        const colon = h.indexOf(':');
        if (colon <= 0) program.error(`fcgictl: header ${JSON.stringify(h)} should look like 'Name: value'`, { exitCode: EXIT.USAGE });
        headers[h.slice(0, colon).trim()] = h.slice(colon + 1).trim();
      }
      const extra: Record<string, string> = {};
      for (const p of opts.param as string[]) {
        const eq = p.indexOf('=');
        if (eq <= 0) program.error(`fcgictl: param ${JSON.stringify(p)} should look like NAME=value`, { exitCode: EXIT.USAGE });
        extra[p.slice(0, eq)] = p.slice(eq + 1);
      }
      const client = new FastCGIClient({ address: opts.address, keepConn: false, timeout: opts.timeout });
      try {
        const res = await client.fetch({
          params: cgiParams({
            method: opts.method,
            url: path,
            headers,
            contentLength: body?.length,
            scriptFilename: opts.scriptFilename,
            params: extra,
          }),
          body,
        });
        if (opts.include) {
          let head = `Status: ${res.status}${res.statusText ? ' ' + res.statusText : ''}\n`;
          for (const [name, value] of res.rawHeaders) head += `${name}: ${value}\n`;
          process.stdout.write(head + '\n');
        }
        process.stdout.write(res.body);
        if (res.stderr.length > 0) process.stderr.write(res.stderr);
        process.exitCode = res.status >= 400 || res.appStatus !== 0 ? EXIT.FAILED : EXIT.OK;
      } catch (err) {
        fail(err);
      } finally {
        client.close();
      }
    });

  program
    .command('ping')
    .description('ask a FastCGI socket for FCGI_MAX_CONNS/MAX_REQS/MPXS_CONNS (FCGI_GET_VALUES); exit 0 when it answers')
    .requiredOption('-a, --address <address>', 'FastCGI socket: unix:/path or tcp://host:port')
    .addOption(new Option('--timeout <ms>', 'give up after this long').default(5000).argParser(Number))
    .option('--json', 'print the values as JSON')
    .action(async (opts) => {
      const client = new FastCGIClient({ address: opts.address, timeout: opts.timeout, connectTimeout: opts.timeout });
      try {
        const values = await client.getValues();
        if (opts.json) process.stdout.write(JSON.stringify({ address: client.label, values: Object.fromEntries(values) }) + '\n');
        else process.stdout.write(`${client.label}: ok ${[...values].map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
      } catch (err) {
        fail(err);
      }
    });

  return program;
}

await fcgictlProgram().parseAsync(process.argv);
