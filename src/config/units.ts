// The value syntaxes of the config file (DESIGN.md §2): durations, sizes,
// signals, octal modes. Each parser returns the value or a string saying what
// was expected, so the caller can attach the file, line and key path.

import { constants } from 'node:os';

export type Parsed<T> = { ok: true; value: T } | { ok: false; expected: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = <T>(expected: string): Parsed<T> => ({ ok: false, expected });

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `250ms`, `30s`, `5m`, `1h`, `1.5s`, or a number of seconds. Returns milliseconds. */
export function parseDuration(value: unknown): Parsed<number> {
  const expected = 'a duration such as 250ms, 30s, 5m, 1h or a number of seconds';
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? ok(Math.round(value * 1000)) : bad(expected);
  if (typeof value !== 'string') return bad(expected);
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(value.trim());
  if (!m) return bad(expected);
  return ok(Math.round(Number(m[1]) * DURATION_UNITS[m[2] ?? 's']!));
}

const SIZE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** `512K`, `64M`, `1G` (powers of 1024), or a number of bytes. */
export function parseSize(value: unknown): Parsed<number> {
  const expected = 'a size such as 512K, 64M, 1G or a number of bytes';
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? ok(value) : bad(expected);
  if (typeof value !== 'string') return bad(expected);
  // 64M, 64MB and 64MiB all mean 64 * 1024^2; a bare B means bytes.
  const m = /^(\d+(?:\.\d+)?)\s*(?:([KMG])(?:i?B)?|B)?$/i.exec(value.trim());
  // A fraction of a byte is as wrong as the number 1.5 is.
  if (!m || (m[2] === undefined && m[1]!.includes('.'))) return bad(expected);
  return ok(Math.round(Number(m[1]) * SIZE_UNITS[(m[2] ?? '').toUpperCase()]!));
}

/** `SIGTERM` or `TERM` (any case). Returns the canonical `SIGTERM` form. */
export function parseSignal(value: unknown): Parsed<NodeJS.Signals> {
  const expected = 'a signal name such as SIGTERM, TERM, SIGQUIT or SIGINT';
  if (typeof value !== 'string') return bad(expected);
  const upper = value.trim().toUpperCase();
  const name = (upper.startsWith('SIG') ? upper : `SIG${upper}`) as NodeJS.Signals;
  return name in constants.signals ? ok(name) : bad(expected);
}

/** An octal file mode, `"0660"` or `"660"`. */
export function parseMode(value: unknown): Parsed<number> {
  const expected = 'an octal mode such as "0660"';
  if (typeof value !== 'string' || !/^0?[0-7]{3,4}$/.test(value.trim())) return bad(expected);
  const mode = parseInt(value.trim(), 8);
  return mode <= 0o7777 ? ok(mode) : bad(expected);
}
