// The doctor's readers (src/doctor/clues.ts, capture.ts, access.ts, and the
// pure parts of files.ts): what they take from recorded output and file heads,
// and that every result stays bounded whatever the input.

import { describe, expect, it } from 'vitest';
import { permitted, R, X } from '../../src/doctor/access.js';
import { Capture } from '../../src/doctor/capture.js';
import { cgiHeaderOnStdout, importError, lastLine, namedVariables, relativeOpens } from '../../src/doctor/clues.js';
import { fileFormat, interpreterOptions, parseShebang, scriptArgument } from '../../src/doctor/files.js';

describe('doctor clues', () => {
  it('importError: Python 3 and 2 wordings, the last one wins', () => {
    expect(importError("Traceback…\nModuleNotFoundError: No module named 'yourapplication'\n")).toEqual({ line: "ModuleNotFoundError: No module named 'yourapplication'", module: 'yourapplication' });
    expect(importError('ImportError: No module named flask.ext\n')?.module).toBe('flask.ext');
    expect(importError("ImportError: cannot import name 'x' from 'pkg.sub' (/srv/pkg/sub.py)\n")?.module).toBe('pkg.sub');
    expect(importError('all fine\n')).toBeNull();
  });

  it('relativeOpens: Python, PHP and Node wordings; absolute paths left out', () => {
    const text = [
      "FileNotFoundError: [Errno 2] No such file or directory: 'data.txt'",
      "IOError: [Errno 2] No such file or directory: 'conf/app.ini'",
      "FileNotFoundError: [Errno 2] No such file or directory: '/etc/app.ini'",
      'PHP Warning:  file_get_contents(config.json): Failed to open stream: No such file or directory in /var/www/html/index.php on line 3',
      "Error: ENOENT: no such file or directory, open 'views/index.html'",
    ].join('\n');
    expect(relativeOpens(text)).toEqual(['data.txt', 'conf/app.ini', 'config.json', 'views/index.html']);
  });

  it('namedVariables: KeyError, environ, getenv, $_ENV, process.env and "X is not set"', () => {
    const text = [
      "KeyError: 'SECRET_KEY'",
      "    url = os.environ['DATABASE_URL']",
      "  $key = getenv('API_KEY');",
      "  $_ENV['MAIL_HOST']",
      'const port = process.env.APP_PORT',
      'RuntimeError: REDIS_URL is not set',
    ].join('\n');
    expect(namedVariables(text).sort()).toEqual(['API_KEY', 'APP_PORT', 'DATABASE_URL', 'MAIL_HOST', 'REDIS_URL', 'SECRET_KEY']);
  });

  it('bounded: at most 10 names, none longer than 1 KiB', () => {
    const many = Array.from({ length: 1000 }, (_, i) => `KeyError: 'V${i}'`).join('\n');
    expect(namedVariables(many)).toHaveLength(10);
    expect(relativeOpens(`FileNotFoundError: [Errno 2] No such file or directory: '${'a'.repeat(5000)}'`)).toEqual([]);
  });

  it('cgiHeaderOnStdout and lastLine', () => {
    expect(cgiHeaderOnStdout('Content-type: text/html\n\n<p>hi</p>\n')).toBe('Content-type: text/html');
    expect(cgiHeaderOnStdout('Status: 404 Not Found\n')).toBe('Status: 404 Not Found');
    expect(cgiHeaderOnStdout('starting worker\nlistening\n')).toBeNull();
    expect(lastLine('Traceback\n  File x\nValueError: bad\n\n')).toBe('ValueError: bad');
    expect(lastLine('x'.repeat(1000))).toHaveLength(301);
    expect(lastLine('\n\n')).toBeNull();
  });
});

describe('doctor capture', () => {
  it('keeps everything under the bound', () => {
    const c = new Capture(100);
    c.line('one');
    c.line('two');
    expect(c.text()).toBe('one\ntwo\n');
    expect(c.dropped).toBe(0);
  });

  it('keeps the start and the end of a flood, and says how much is left out', () => {
    const c = new Capture(1000);
    c.push('HEAD');
    for (let i = 0; i < 10_000; i++) c.push('x'.repeat(100));
    c.push('ValueError: the end');
    const text = c.text();
    expect(text.startsWith('HEAD')).toBe(true);
    expect(text.endsWith('ValueError: the end')).toBe(true);
    expect(text.length).toBeLessThan(1100);
    expect(text).toContain(`… ${c.dropped.toLocaleString('en-US')} bytes left out …`);
    expect(c.dropped).toBe(4 + 1_000_000 + 19 - 1000);
  });
});

describe('doctor file checks', () => {
  const www = { uid: 33, gids: [33] };
  it('permitted: owner, group, others; root executes only with an x bit, but searches any directory', () => {
    expect(permitted(www, { uid: 0, gid: 0, mode: 0o755 }, X, true)).toBe(true);
    expect(permitted(www, { uid: 0, gid: 0, mode: 0o700 }, X, true)).toBe(false);
    expect(permitted(www, { uid: 0, gid: 33, mode: 0o750 }, X, true)).toBe(true);
    expect(permitted(www, { uid: 33, gid: 0, mode: 0o400 }, R, false)).toBe(true);
    expect(permitted(www, { uid: 33, gid: 0, mode: 0o044 }, R, false)).toBe(false);
    const root = { uid: 0, gids: [0] };
    expect(permitted(root, { uid: 33, gid: 33, mode: 0o644 }, X, false)).toBe(false);
    expect(permitted(root, { uid: 33, gid: 33, mode: 0o744 }, X, false)).toBe(true);
    expect(permitted(root, { uid: 33, gid: 33, mode: 0o700 }, X, true)).toBe(true);
    expect(permitted(root, { uid: 33, gid: 33, mode: 0o000 }, R, false)).toBe(true);
  });

  it('parseShebang splits as Linux does: the interpreter, then one argument', () => {
    expect(parseShebang(Buffer.from('#!/usr/bin/python3\nimport x\n'))).toEqual({ line: '#!/usr/bin/python3', interpreter: '/usr/bin/python3', arg: null, crlf: false });
    expect(parseShebang(Buffer.from('#! /usr/bin/env python3 -u\n'))).toEqual({ line: '#! /usr/bin/env python3 -u', interpreter: '/usr/bin/env', arg: 'python3 -u', crlf: false });
    expect(parseShebang(Buffer.from('#!/bin/sh\r\necho\r\n'))).toMatchObject({ interpreter: '/bin/sh\r', crlf: true });
  });

  it('fileFormat: ELF, #!, text', () => {
    expect(fileFormat(Buffer.from('\x7fELF\x02\x01\x01', 'latin1'))).toBe('binary');
    expect(fileFormat(Buffer.from('#!/bin/sh\n'))).toBe('shebang');
    expect(fileFormat(Buffer.from('from flask import Flask\n'))).toBe('text');
    expect(fileFormat(null)).toBeNull();
  });

  it('scriptArgument: the first word after an interpreter that is not an option', () => {
    expect(scriptArgument(['/usr/bin/python3', '-u', 'app.fcgi', '--flag'])).toBe('app.fcgi');
    expect(scriptArgument(['/usr/bin/python3', '-W', 'ignore', '/srv/app.fcgi'])).toBe('/srv/app.fcgi');
    expect(scriptArgument(['python3', '-m', 'app'])).toBeNull();
    expect(scriptArgument(['php-cgi', '-c', '/etc/php.ini'])).toBeNull();
    expect(scriptArgument(['/srv/app.fcgi'])).toBeNull();
    expect(scriptArgument(['node', '--enable-source-maps', 'worker.mjs'])).toBe('worker.mjs');
    expect(interpreterOptions(['python3', '-E', '-s', 'app.fcgi'], 'app.fcgi')).toEqual(['-E', '-s']);
  });
});
