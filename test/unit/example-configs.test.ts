// Every example in config/ is a valid config, so the docs that point at them stay true.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';

const dir = new URL('../../config/', import.meta.url).pathname;
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));

describe('config/ examples', () => {
  it('has the examples the README lists', () => {
    expect(files.sort()).toEqual(['fcgiwrap.yaml', 'flask-flup.yaml', 'flask-uwsgi.yaml', 'hello.yaml', 'php-cgi.yaml']);
  });

  it.each(files)('%s parses with no problem', (file) => {
    const config = loadConfig(dir + file);
    expect(config.pools.length).toBeGreaterThan(0);
  });
});
