// mod_fcgid's per-class settings onto a pool: the Fcgid* directives that
// apply where the class is (its <VirtualHost>, the server), the most specific
// and then the last one winning, and FcgidCmdOptions for its command. mod_fcgid
// starts processes on demand, so every class is a dynamic pool; its defaults
// (3 to 100 processes, 300 s idle) are written out when not set.

import { LIMITS } from '../config/types.js';
import { parseInteger, type PoolDraft } from './draft.js';
import type { Directive } from './apache-parse.js';

/** mod_fcgid's defaults (its documentation). */
const DEFAULTS = { min: 3, max: 100, idle: 300 };

/** Directives of mod_fcgid that are about Apache's side of a request: file-level comments. */
export const FCGID_APACHE_SIDE = new Set([
  'fcgidiotimeout',
  'fcgidconnecttimeout',
  'fcgidmaxrequestlen',
  'fcgidmaxrequestinmem',
  'fcgidoutputbuffersize',
  'fcgidpassheader',
  'fcgidfixpathinfo',
]);
/** mod_fcgid's own bookkeeping: nothing to carry over. */
export const FCGID_BOOKKEEPING = new Set([
  'fcgidipcdir',
  'fcgidprocesstablefile',
  'fcgididlescaninterval',
  'fcgidbusyscaninterval',
  'fcgiderrorscaninterval',
  'fcgidzombiescaninterval',
  'fcgidspawnscore',
  'fcgidterminationscore',
  'fcgidtimescore',
  'fcgidspawnscoreuplimit',
]);
/** Per-class settings this module maps. */
export const FCGID_CLASS = new Set([
  'fcgidmaxprocessesperclass',
  'fcgidminprocessesperclass',
  'fcgididletimeout',
  'fcgidprocesslifetime',
  'fcgidmaxrequestsperprocess',
  'fcgidbusytimeout',
  'fcgidinitialenv',
]);

/**
 * Does `d` apply to a program set up inside `scope`? Each section around `d` must be around the
 * program too, or be a <Directory> (or <Files>) the program's file is in.
 */
export function applies(d: Directive, scope: Directive['scope'], path: string | null = null): boolean {
  return d.scope.every((s) => scope.some((x) => x.id === s.id) || (path !== null && holds(s, path)));
}

function holds(s: Directive['scope'][number], path: string): boolean {
  const arg = s.args.replace(/^["']|["']$/g, '').replace(/\/+$/, '');
  const tag = s.tag.toLowerCase();
  if (tag === 'directory') return arg !== '' && path.startsWith(`${arg}/`);
  if (tag === 'files') return path.slice(path.lastIndexOf('/') + 1) === arg;
  return false;
}

/** mod_fcgid's settings onto a pool at `scope` running `command` (php: PHP_FCGI_MAX_REQUESTS for the request cap). */
export function fcgidClass(pool: PoolDraft, all: Directive[], scope: Directive['scope'], command: string, php: boolean): void {
  const here = all.filter((d) => FCGID_CLASS.has(d.key) && applies(d, scope, command)).sort((a, b) => a.scope.length - b.scope.length || a.line - b.line);
  const last = new Map<string, { value: string; line: number | null; from: string }>();
  for (const d of here) {
    if (d.key === 'fcgidinitialenv') {
      if (d.args[0]) pool.setEnv(d.args[0], d.args[1] ?? '');
    } else if (d.args[0] !== undefined) last.set(d.key, { value: d.args[0], line: d.line, from: d.name });
  }
  // FcgidCmdOptions COMMAND Option value …: this command's own settings, over the class-wide ones.
  for (const d of all.filter((x) => x.key === 'fcgidcmdoptions' && x.args[0] === command)) cmdOptions(pool, d, last);

  const int = (key: string): { n: number | null; line: number | null; from: string } | null => {
    const e = last.get(key);
    return e ? { n: parseInteger(e.value), line: e.line, from: e.from } : null;
  };
  const max = int('fcgidmaxprocessesperclass');
  const min = int('fcgidminprocessesperclass');
  const maxN = max?.n ?? DEFAULTS.max;
  const minN = Math.min(min?.n ?? DEFAULTS.min, maxN);
  if (maxN < 1 || maxN > LIMITS.workers) {
    pool.note(
      max?.line ?? null,
      `FcgidMaxProcessesPerClass ${maxN}`,
      `fcgid runs 1 to ${LIMITS.workers.toLocaleString('en-US')} workers; set max_workers by hand`,
    );
  } else {
    pool.set('min_workers', Math.max(minN, 1), min ? min.from : "mod_fcgid's default FcgidMinProcessesPerClass");
    pool.set('max_workers', maxN, max ? max.from : "mod_fcgid's default FcgidMaxProcessesPerClass");
    if (minN === 0) pool.note(min?.line ?? null, 'FcgidMinProcessesPerClass 0', 'mod_fcgid let a class go down to no process; fcgid keeps at least one worker');
  }
  const idle = int('fcgididletimeout');
  pool.seconds('spare_idle_timeout', idle?.n ?? DEFAULTS.idle, idle ? idle.from : "mod_fcgid's default FcgidIdleTimeout", idle?.line ?? null);
  const life = int('fcgidprocesslifetime');
  if (life?.n) pool.seconds('max_lifetime', life.n, life.from, life.line);
  const busy = int('fcgidbusytimeout');
  if (busy?.n) {
    pool.seconds('idle_timeout', busy.n, busy.from, busy.line);
    pool.note(
      busy.line,
      `${busy.from} ${busy.n}`,
      'as idle_timeout, counted as silence: a request that keeps reading or writing is never stopped (docs/timeouts.md)',
    );
  }
  const requests = int('fcgidmaxrequestsperprocess');
  if (requests?.n) {
    if (php && !pool.env.has('PHP_FCGI_MAX_REQUESTS')) pool.setEnv('PHP_FCGI_MAX_REQUESTS', String(requests.n), requests.from);
    else if (!php) {
      pool.note(
        requests.line,
        `${requests.from} ${requests.n}`,
        'fcgid does not count requests: recycle workers by age (max_lifetime) or memory (max_memory) instead',
      );
    }
  }
}

/** FcgidCmdOptions' option names to the directive each stands for. */
const CMD_OPTIONS: Record<string, string> = {
  maxprocesses: 'fcgidmaxprocessesperclass',
  minprocesses: 'fcgidminprocessesperclass',
  idletimeout: 'fcgididletimeout',
  processlifetime: 'fcgidprocesslifetime',
  maxrequestsperprocess: 'fcgidmaxrequestsperprocess',
  busytimeout: 'fcgidbusytimeout',
};

function cmdOptions(pool: PoolDraft, d: Directive, last: Map<string, { value: string; line: number | null; from: string }>): void {
  for (let i = 1; i < d.args.length; i += 2) {
    const option = d.args[i]!;
    const value = d.args[i + 1] ?? '';
    const key = option.toLowerCase();
    if (key === 'initialenv') {
      const eq = value.indexOf('=');
      pool.setEnv(eq < 0 ? value : value.slice(0, eq), eq < 0 ? '' : value.slice(eq + 1), 'FcgidCmdOptions InitialEnv');
    } else if (CMD_OPTIONS[key]) last.set(CMD_OPTIONS[key], { value, line: d.line, from: `FcgidCmdOptions ${option}` });
    else
      pool.note(
        d.line,
        `FcgidCmdOptions ${option} ${value}`,
        "Apache's side of a request (timeouts while talking to the program): set it on the ProxyPass line (timeout=, connectiontimeout=)",
      );
  }
}
