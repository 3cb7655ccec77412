// php-fpm's process manager (`pm`, `pm.*`) as an fcgid pool's size: static is
// a fixed pool; dynamic and ondemand are dynamic pools (fcgid counts all
// workers where php-fpm counted idle ones, so the spare counts are comments).

import { LIMITS } from '../config/types.js';
import { parseInteger, type PoolDraft } from './draft.js';
import type { IniEntry } from './ini.js';

/** php-fpm's durations: a number of seconds, or with s, m, h or d. */
export function fpmSeconds(text: string): number | null {
  const m = /^\s*(\d{1,12})\s*([smhd]?)\s*$/.exec(text);
  if (!m) return null;
  return Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[m[2]!]!;
}

/** pm and pm.*: the pool's size. */
export function size(p: PoolDraft, get: (key: string) => IniEntry | undefined): void {
  const pm = (get('pm')?.value ?? 'dynamic').trim().toLowerCase();
  const maxEntry = get('pm.max_children');
  const max = parseInteger(maxEntry?.value ?? '');
  if (max === null || max < 1 || max > LIMITS.workers) {
    p.note(
      maxEntry?.line ?? null,
      `pm.max_children${maxEntry ? ` = ${maxEntry.value}` : ''}`,
      `php-fpm requires a number from 1; fcgid's limit is ${LIMITS.workers.toLocaleString('en-US')}: set workers (or min_workers and max_workers) by hand`,
    );
    return;
  }
  if (pm === 'static') {
    p.set('workers', max, 'pm = static, pm.max_children');
    return;
  }
  const minSpare = parseInteger(get('pm.min_spare_servers')?.value ?? '');
  const maxSpare = parseInteger(get('pm.max_spare_servers')?.value ?? '');
  if (pm === 'ondemand') {
    p.set('min_workers', 1, 'pm = ondemand starts none; fcgid keeps one');
    p.set('max_workers', max, 'pm.max_children');
    const idle = get('pm.process_idle_timeout');
    const s = idle ? fpmSeconds(idle.value) : null;
    if (idle && s === null)
      p.note(idle.line, `pm.process_idle_timeout = ${idle.value}`, 'expected seconds (or 10s, 1m); left out (fcgid stops a spare worker idle for 10s)');
    else if (s !== null) p.seconds('spare_idle_timeout', s, 'pm.process_idle_timeout', idle!.line);
    return;
  }
  if (pm !== 'dynamic') p.note(get('pm')?.line ?? null, `pm = ${pm}`, 'php-fpm knows static, dynamic and ondemand; read as dynamic, its default');
  // php-fpm's default start_servers: min_spare + (max_spare - min_spare) / 2.
  const startEntry = get('pm.start_servers');
  const start = parseInteger(startEntry?.value ?? '') ?? (minSpare !== null && maxSpare !== null ? minSpare + Math.floor((maxSpare - minSpare) / 2) : 1);
  const min = Math.min(Math.max(start, 1), max);
  p.set('min_workers', min, startEntry ? 'pm.start_servers' : "php-fpm's default pm.start_servers");
  p.set('max_workers', max, 'pm = dynamic, pm.max_children');
  const spare = ['pm.min_spare_servers', 'pm.max_spare_servers'].map((k) => get(k)).filter((e): e is IniEntry => e !== undefined);
  for (const e of spare) {
    p.note(
      e.line,
      `${e.key} = ${e.value}`,
      'fcgid keeps no count of idle workers in reserve: it starts more while every worker is busy, and stops one idle for spare_idle_timeout (10s), down to min_workers',
    );
  }
  const idle = get('pm.process_idle_timeout');
  if (idle)
    p.note(
      idle.line,
      `pm.process_idle_timeout = ${idle.value}`,
      'php-fpm uses it with pm = ondemand only; fcgid stops a spare worker idle for spare_idle_timeout (10s)',
    );
}
