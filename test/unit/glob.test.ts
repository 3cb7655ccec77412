// The glob matching behind `watch:` (chokidar watches directories; fcgid matches).
import { describe, expect, it } from 'vitest';
import { globBase, globToRegExp } from '../../src/host/watch.js';

describe('globToRegExp', () => {
  it.each([
    ['/app/*.py', '/app/main.py', true],
    ['/app/*.py', '/app/lib/main.py', false],
    ['/app/**/*.py', '/app/main.py', true],
    ['/app/**/*.py', '/app/a/b/c.py', true],
    ['/app/**', '/app/a/b/c.txt', true],
    ['/app/?.ini', '/app/a.ini', true],
    ['/app/?.ini', '/app/ab.ini', false],
    ['/app/*.{py,ini}', '/app/x.ini', true],
    ['/app/*.{py,ini}', '/app/x.txt', false],
    ['/app/[ab].conf', '/app/b.conf', true],
    ['/app/[!ab].conf', '/app/b.conf', false],
    ['/app/file(1).txt', '/app/file(1).txt', true],
    ['/app/a+b.txt', '/app/aab.txt', false],
  ])('%s matches %s: %s', (glob, path, expected) => {
    expect(globToRegExp(glob).test(path)).toBe(expected);
  });
});

describe('globBase', () => {
  it.each([
    ['/var/www/app/**/*.py', '/var/www/app'],
    ['/var/www/*/app.py', '/var/www'],
    ['/etc/app.ini', '/etc'],
    ['/*.conf', '/'],
  ])('%s is watched from %s', (glob, base) => {
    expect(globBase(glob)).toBe(base);
  });
});
