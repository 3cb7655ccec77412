// src/cli/launch.cts runs a bundle with V8's code cache from its last run.
// Real files and real V8: a cache is used only for the very bundle it was
// made from, a stale or damaged one is never run, and a cache that cannot be
// written costs nothing but the speed-up.

import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CacheSave, CacheState } from '../../src/cli/launch.cjs';

// The built launcher (npm test builds first): Vite does not compile .cts files.
const LAUNCHER = createRequire(import.meta.url).resolve('../../dist/cli/launch.cjs');
const { launch, checksum } = createRequire(import.meta.url)(LAUNCHER) as typeof import('../../src/cli/launch.cjs');

const BUILD_A = '11111111-1111-4111-8111-111111111111';
const BUILD_B = '22222222-2222-4222-8222-222222222222';

interface Seen {
  argv: string[];
  cache: CacheState;
  saved: CacheSave;
  answer: number;
}

/** A bundle whose main() reports what it was given and computes `answer` with enough code for V8 to cache. */
function bundleSource(answer: number, build: string | null = BUILD_A): string {
  return `${build === null ? '' : `"use strict"; /* fcgid-build ${build} */`}
function work(n) { let s = 0; for (let i = 0; i < n; i++) s += (i % 7) * ${answer}; return s; }
exports.main = async (argv, launch) => {
  process.stdout.write(JSON.stringify({ argv, cache: launch.cache, saved: launch.saveCodeCache(), answer: ${answer}, work: work(10) }));
};
`;
}

/**
 * Each run in a process of its own, as bin/fcgid does: within one process V8
 * reuses what it compiled before and never reads a cache for the same source.
 */
async function run(bundle: string, nodeFlags: string[] = []): Promise<Seen> {
  const r = spawnSync(process.execPath, [...nodeFlags, '-e', `require(${JSON.stringify(LAUNCHER)}).launch(process.argv[1], ['node', 'x', 'arg'])`, bundle], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as Seen;
}

describe('launch: the code cache beside a bundle', () => {
  let dir: string;
  let bundle: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fcgid-launch-'));
    bundle = join(dir, 'app.cjs');
    writeFileSync(bundle, bundleSource(41));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is written on the first run and used on the next', async () => {
    const first = await run(bundle);
    expect(first).toMatchObject({ argv: ['node', 'x', 'arg'], cache: 'missing', saved: 'written', answer: 41 });
    const file = readFileSync(`${bundle}.cache`);
    const header = file.toString('latin1').split('\n')[0]!;
    expect(header).toMatch(new RegExp(`^fcgid-code-cache 3 ${BUILD_A} ${process.version} ${process.arch} [0-9a-f]{8} *$`));
    expect((header.length + 1) % 8).toBe(0);
    const second = await run(bundle);
    expect(second).toMatchObject({ cache: 'used', saved: 'current', answer: 41 });
  });

  it('is tied to the build id in the banner: another build is stale even with the same length and mtime (as npm packs files)', async () => {
    const packed = new Date('1985-10-26T08:15:00Z');
    utimesSync(bundle, packed, packed);
    expect(await run(bundle)).toMatchObject({ cache: 'missing', saved: 'written', answer: 41 });
    const before = readFileSync(bundle, 'utf8');
    writeFileSync(bundle, bundleSource(42, BUILD_B));
    expect(readFileSync(bundle, 'utf8').length).toBe(before.length);
    utimesSync(bundle, packed, packed);
    expect(await run(bundle)).toMatchObject({ cache: 'stale', saved: 'written', answer: 42 });
    expect(await run(bundle)).toMatchObject({ cache: 'used', answer: 42 });
  });

  it('is not kept for a bundle without a build id (made by something else than scripts/bundle.mjs)', async () => {
    writeFileSync(bundle, bundleSource(41, null));
    expect(await run(bundle)).toMatchObject({ cache: 'off', saved: 'current', answer: 41 });
    expect(readdirSync(dir)).toEqual(['app.cjs']);
  });

  it('is not used when damaged or cut short (V8 would abort on it), and is replaced', async () => {
    await run(bundle);
    const whole = readFileSync(`${bundle}.cache`);
    const flipped = Buffer.from(whole);
    const at = flipped.length - 100;
    flipped[at] = flipped[at]! ^ 0x01;
    writeFileSync(`${bundle}.cache`, flipped);
    expect(await run(bundle)).toMatchObject({ cache: 'damaged', saved: 'written', answer: 41 });
    writeFileSync(`${bundle}.cache`, whole.subarray(0, whole.length - 64));
    expect(await run(bundle)).toMatchObject({ cache: 'damaged', saved: 'written', answer: 41 });
    expect(await run(bundle)).toMatchObject({ cache: 'used', answer: 41 });
  });

  it('is rejected by V8 when whole but not V8 code, and the bundle runs from source', async () => {
    await run(bundle);
    const header = readFileSync(`${bundle}.cache`).toString('latin1').split('\n')[0]!.trimEnd();
    const junk = Buffer.alloc(4096, 0x5a);
    writeFileSync(`${bundle}.cache`, Buffer.concat([Buffer.from(`${header.slice(0, header.lastIndexOf(' '))} ${checksum(junk)}\n`), junk]));
    expect(await run(bundle)).toMatchObject({ cache: 'rejected', saved: 'written', answer: 41 });
    expect(await run(bundle)).toMatchObject({ cache: 'used', answer: 41 });
  });

  it('costs nothing but the speed-up when it cannot be written, and leaves no temporary file', async () => {
    // A directory where the cache goes: the rename fails, as on a read-only install.
    mkdirSync(`${bundle}.cache`);
    const seen = await run(bundle);
    expect(seen).toMatchObject({ cache: 'missing', saved: { failed: 'EISDIR' }, answer: 41 });
    expect(readdirSync(dir).sort()).toEqual(['app.cjs', 'app.cjs.cache']);
  });

  it('is left alone under --enable-source-maps: Node loads the bundle itself, so stack traces map to the sources', async () => {
    expect(await run(bundle, ['--enable-source-maps'])).toMatchObject({ cache: 'off', saved: 'current', answer: 41 });
    expect(readdirSync(dir)).toEqual(['app.cjs']);
  });

  it('names the fix when the bundle has no main()', () => {
    writeFileSync(bundle, 'exports.other = 1;\n');
    expect(() => launch(bundle, [])).toThrow(/exports no main\(\); rebuild with `npm run build`/);
  });
});
