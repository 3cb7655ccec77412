// Durations and sizes as operators read them in logs and status.

export function fmtMs(ms: number): string {
  if (Math.round(ms) < 1000) return `${Math.round(ms)}ms`;
  if (ms < 59_950) return `${(ms / 1000).toFixed(1)}s`;
  // Round first, then split, so that 119.7s reads 2m0s and never 1m60s.
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  const m = Math.round(ms / 60_000);
  return `${Math.floor(m / 60)}h${m % 60}m`;
}

export function mib(bytes: number): string {
  return `${Math.round(bytes / 1024 / 1024)}M`;
}
