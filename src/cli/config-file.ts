// The config file as the `fcgid` commands take it: loaded, or every problem on
// stderr and exit 2; and the pool a command names (which may be left out when
// the config has one).

import { ConfigError, loadConfig } from '../config/load.js';
import type { Config, PoolConfig } from '../config/types.js';

/** fcgid's exit status for an invalid config or command line. */
export const EXIT_CONFIG = 2;

export function loadOrExit(file: string): Config {
  try {
    return loadConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\nfcgid: ${err.issues.length} problem${err.issues.length === 1 ? '' : 's'} in ${file}; nothing was started\n`);
      process.exit(EXIT_CONFIG);
    }
    throw err;
  }
}

/** The pool named, or the config's only one; otherwise `fail` with the names there are. */
export function pickPool(config: Config, file: string, name: string | undefined, fail: (message: string) => never): PoolConfig {
  const names = config.pools.map((p) => p.name);
  if (name === undefined) return config.pools.length === 1 ? config.pools[0]! : fail(`${file} has ${names.length} pools; name one: ${names.join(', ')}`);
  return config.pools.find((p) => p.name === name) ?? fail(`no pool ${name} in ${file}; its pools: ${names.join(', ')}`);
}
