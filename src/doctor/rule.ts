// What every rule of the doctor (diagnose.ts) is made of: a Rule reads the
// Observation and returns diagnoses; these helpers phrase what they say.

import { formatMode } from '../config/view.js';
import type { Diagnosis, DiagnosisCode, Observation, PathFacts } from './types.js';

export type Rule = (o: Observation) => Diagnosis[];

/** A diagnosis per variable or file named in the output, at most. */
export const MAX_EACH = 5;

/** The worker answered with a proper CGI head. */
export function answered(o: Observation): boolean {
  return o.run?.outcome === 'answered' && o.run.response !== null;
}

/** It did not answer, or answered with a server error. */
export function failed(o: Observation): boolean {
  return o.run !== null && (!answered(o) || o.run.response!.status >= 500);
}

/** Everything the worker said, where a traceback or a PHP fatal may be. */
export function outputOf(o: Observation): string {
  const out = o.run?.output;
  return out ? `${out.stderr}\n${out.fcgiStderr}\n${out.stdout}` : '';
}

/** A diagnosis: its code, what is wrong, and the fix. */
export function d(code: DiagnosisCode, message: string, fix: string): Diagnosis {
  return { code, message, fix };
}

const mode = (m: number | null): string => formatMode(m === null ? null : m & 0o7777) ?? '?';

/** "mode 0700, owner uid 0" */
export function perms(f: { mode: number | null; uid: number | null }): string {
  return `mode ${mode(f.mode)}, owner uid ${f.uid}`;
}

/** A command line as a shell reads it back: words with spaces or shell characters in single quotes. */
export function shellLine(words: readonly string[]): string {
  return words.map((w) => (/^[\w./=:,+@%-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' ');
}

export function exitText(e: { code: number | null; signal: string | null }): string {
  return e.signal !== null ? `signal ${e.signal}` : `status ${e.code}`;
}

/** A directory on the way to `f` that the worker's user may not enter. */
export function blocked(o: Observation, f: PathFacts, what: string): Diagnosis | null {
  const u = o.user.user;
  if (f.blockedAt) {
    const b = f.blockedAt;
    return d(
      'permission-denied',
      `${u} cannot enter ${b.dir} (${perms({ mode: b.mode, uid: b.uid })}), on the way to ${what} ${f.path}`,
      `chmod o+x ${b.dir} (or give ${u}'s group search permission on it), or move the app where ${u} can reach it`,
    );
  }
  return null;
}
