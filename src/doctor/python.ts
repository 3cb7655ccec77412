// After an import error: the Python the worker runs, asked once more, as the
// worker (same user, group, environment, cwd and interpreter options), where
// it looks for modules. "Works by hand" is usually another interpreter, a
// virtualenv that was active, or a PYTHONPATH the shell had.

import { execFile } from 'node:child_process';
import { basename } from 'node:path';
import { launchLine } from '../host/processes.js';
import type { ProgramFacts } from './types.js';

const PYTHON = /^(?:python|pypy)[\d.]*$/;
/** Prints the interpreter and its module path, one JSON list on one line. */
const ASK = 'import sys, json; print(sys.executable); print(json.dumps(sys.path))';
const ASK_TIMEOUT_MS = 5000;
const ASK_BOUND = 256 * 1024;

/** The Python interpreter that runs the worker's code, if it is Python: command[0], or the script's #! line. */
export function pythonOf(program: ProgramFacts | null): string | null {
  if (!program?.resolved) return null;
  if (program.interpreter) return PYTHON.test(basename(program.name)) ? program.resolved.path : null;
  const s = program.shebang;
  if (!s) return null;
  if (s.env) return PYTHON.test(basename(s.env.name)) ? s.env.found : null;
  const interp = s.interpreter.replace(/\r$/, '');
  return PYTHON.test(basename(interp)) && s.facts?.exists ? s.facts.path : null;
}

export interface AskAs {
  cwd: string;
  env: Record<string, string>;
  uid: number | null;
  gid: number | null;
  /** The worker's groups (src/host/identity.ts, Ids): it is asked with them, as the worker runs. */
  groups: readonly number[] | null;
  /** The interpreter's options in the worker's command (-E, -s, -I change sys.path). */
  options: string[];
  /** What sys.path[0] is for the worker: its script's directory (for `-c` Python puts '' there). */
  first: string | null;
}

export function askPython(executable: string, as: AskAs): Promise<{ executable: string; path: string[] } | { error: string }> {
  return new Promise((resolve) => {
    let line: ReturnType<typeof launchLine>;
    try {
      line = launchLine({ command: [executable, ...as.options, '-c', ASK], cwd: as.cwd, env: as.env, uid: as.uid, gid: as.gid, groups: as.groups });
    } catch (err) {
      resolve({ error: `${executable} -c could not be asked (${(err as NodeJS.ErrnoException).code})` });
      return;
    }
    const [file, args, uid, gid] = line;
    execFile(
      file,
      args,
      { cwd: as.cwd, env: as.env, uid, gid, timeout: ASK_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: ASK_BOUND, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const [exe, json] = stdout.split('\n');
        let path: unknown;
        try {
          path = JSON.parse(json ?? '');
        } catch {
          path = null;
        }
        if (err || !exe || !Array.isArray(path)) {
          const why = err ? ((err as NodeJS.ErrnoException).code ?? err.message) : 'no answer';
          resolve({ error: `${executable} -c could not be asked (${why})${stderr ? `: ${stderr.trim().split('\n').at(-1)}` : ''}` });
          return;
        }
        const list = path.map(String);
        if (as.first !== null && list[0] === '') list[0] = as.first;
        resolve({ executable: exe, path: list });
      },
    );
  });
}
