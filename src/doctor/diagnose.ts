// From what the doctor saw to what is wrong and what to change: one rule per
// cause that Flask's FastCGI guide (and every FastCGI deployment since) lists,
// each a pure function of the Observation, so that each can be tested on a
// recorded one. A healthy worker gets none.
//
// The generic conclusions (it exited, it said nothing, it answered 500) only
// stand when no rule found the cause: "exited with status 1" adds nothing to
// "No module named 'yourapplication'".

import type { Rule } from './rule.js';
import { cgi, environment, errorStatus, exited, imports, ownSocket, phpNoInput, protocol, relative, silent, spawnFailed, unanswered } from './rules-run.js';
import { cwd, identities, program, reach, script } from './rules-setup.js';
import type { Diagnosis, DiagnosisCode, Observation } from './types.js';

/** Said only when nothing more precise explains the worker's failure. */
const GENERIC: ReadonlySet<DiagnosisCode> = new Set(['spawn-failed', 'exited', 'no-answer', 'error-status', 'closes-connection']);
/** About the pool's socket or names, not about why the worker fails: they do not make the generic ones redundant. */
const BESIDE: ReadonlySet<DiagnosisCode> = new Set(['socket-unreachable', 'no-such-user', 'no-such-group']);

/** The rules, in the order the report gives them. */
const RULES: readonly Rule[] = [
  identities,
  cwd,
  program,
  script,
  spawnFailed,
  imports,
  relative,
  environment,
  cgi,
  ownSocket,
  protocol,
  phpNoInput,
  errorStatus,
  exited,
  silent,
  reach,
];

export function diagnose(o: Observation): Diagnosis[] {
  const all = RULES.flatMap((rule) => rule(o));
  if (all.every((d) => BESIDE.has(d.code))) all.push(...unanswered(o));
  const explained = all.some((d) => !GENERIC.has(d.code) && !BESIDE.has(d.code));
  return all.filter((d) => !(explained && GENERIC.has(d.code)));
}
