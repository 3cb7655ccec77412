// The resolved config as people write it: durations as `10s`, modes as "0660",
// addresses as `unix:/path`. `fcgid check` prints it; it parses back to the same
// config, so it can be saved as a fully explicit config file.

import { formatAddress } from '../fastcgi/address.js';
import type { Config, PoolConfig } from './types.js';

/** 0 stays a number: it means "off". */
export function formatDuration(ms: number): string | 0 {
  if (ms === 0) return 0;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

export function formatMode(mode: number | null): string | null {
  return mode === null ? null : `0${mode.toString(8).padStart(3, '0')}`;
}

function poolView(p: PoolConfig): Record<string, unknown> {
  const { name: _name, ...rest } = p;
  return {
    ...rest,
    listen: formatAddress(p.listen),
    umask: formatMode(p.umask),
    socket_mode: formatMode(p.socket_mode),
    idle_timeout: formatDuration(p.idle_timeout),
    start_secs: formatDuration(p.start_secs),
    fatal_retry: formatDuration(p.fatal_retry),
    stop_timeout: formatDuration(p.stop_timeout),
    max_lifetime: formatDuration(p.max_lifetime),
    spare_idle_timeout: formatDuration(p.spare_idle_timeout),
  };
}

export function configView(config: Config): Record<string, unknown> {
  return {
    control: { ...config.control, mode: formatMode(config.control.mode) },
    log: config.log,
    metrics: { listen: config.metrics.listen === null ? null : formatAddress(config.metrics.listen) },
    pools: Object.fromEntries(config.pools.map((p) => [p.name, poolView(p)])),
  };
}
