// Which directories root's fcgid trusts (src/host/dirs.ts), on real directories
// in a temp dir, made and chowned as another user (nobody) would have made them.

import { chmodSync, chownSync, existsSync, lchownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DirError, makeDirs, trustedDir, untrusted } from '../../src/host/dirs.js';

const ROOT = process.getuid?.() === 0;
const NOBODY = 65534;

describe.skipIf(!ROOT)('trusted directories', () => {
  const base = mkdtempSync(join(tmpdir(), 'fcgid-dirs-'));
  afterAll(() => rmSync(base, { recursive: true, force: true }));
  let n = 0;
  const dir = (mode: number, uid = 0): string => {
    const d = join(base, `d${n++}`);
    mkdirSync(d);
    chmodSync(d, mode);
    chownSync(d, uid, uid);
    return d;
  };

  it('root-owned and written by no one else: trusted, privately and shared', () => {
    const d = dir(0o755);
    expect(untrusted(d, 'private')).toBeNull();
    expect(untrusted(d, 'shared')).toBeNull();
  });

  it("another user's directory is not", () => {
    const d = dir(0o755, NOBODY);
    expect(untrusted(d, 'shared')).toBe(`${d} is owned by uid ${NOBODY}, not by root or fcgid's user (uid 0)`);
  });

  it('writable by its group: not privately; not shared either unless sticky', () => {
    const d = dir(0o775);
    expect(untrusted(d, 'private')).toBe(`${d} is writable by its group (mode 0775)`);
    expect(untrusted(d, 'shared')).toBe(`${d} is writable by its group and not sticky (mode 0775)`);
    chmodSync(d, 0o1775);
    expect(untrusted(d, 'shared')).toBeNull();
    expect(untrusted(d, 'private')).toBe(`${d} is writable by its group (mode 1775)`);
  });

  it('below a sticky world-writable directory (as /tmp): a private directory fcgid makes is trusted; below a non-sticky one it is not', () => {
    const sticky = dir(0o1777);
    expect(untrusted(join(sticky, 'fcgid'), 'private')).toBeNull();
    const open = dir(0o777);
    expect(untrusted(join(open, 'fcgid'), 'private')).toBe(`${open} is writable by anyone and not sticky (mode 0777)`);
  });

  it("a symlink on the way owned by another user is not followed into trust; root's is, and its target is checked", () => {
    const real = dir(0o755);
    const link = join(base, `l${n++}`);
    symlinkSync(real, link);
    expect(untrusted(link, 'private')).toBeNull();
    const theirs = join(base, `l${n++}`);
    symlinkSync(real, theirs);
    lchownSync(theirs, NOBODY, NOBODY);
    expect(untrusted(theirs, 'private')).toBe(`${theirs} is a symlink owned by uid ${NOBODY}, not by root or fcgid's user (uid 0)`);
    const elsewhere = join(dir(0o755, NOBODY), 'x');
    const toTheirs = join(base, `l${n++}`);
    symlinkSync(join(elsewhere, '..'), toTheirs);
    expect(untrusted(toTheirs, 'shared')).toMatch(/is owned by uid 65534/);
  });

  it('trustedDir creates what is missing, one component at a time, with the mode given', () => {
    const d = join(dir(0o755), 'a', 'b', 'c');
    trustedDir(d, 'private', 0o750, 'control.socket');
    expect(statSync(d).isDirectory()).toBe(true);
    expect(statSync(d).mode & 0o777).toBe(0o750);
  });

  it('trustedDir refuses, and creates nothing, below a directory it cannot trust', () => {
    const theirs = dir(0o755, NOBODY);
    expect(() => trustedDir(join(theirs, 'fcgid'), 'private', 0o755, 'control.socket')).toThrow(DirError);
    expect(existsSync(join(theirs, 'fcgid'))).toBe(false);
  });

  it('regression: a path under /proc made a recursive mkdir loop for ever; now one error naming the component', () => {
    expect(() => makeDirs('/proc/no/such', 0o755, 'log.file')).toThrow('log.file /proc/no/such: cannot create /proc/no: ENOENT');
  });
});
