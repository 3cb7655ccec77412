// What `fcgid doctor` records about one worker (an Observation: the pool's
// settings, what the file system says for the worker's user, and what one run
// of the worker on a private socket showed) and what it concludes from it (a
// Diagnosis). Plain data that survives JSON, so that the rules (diagnose.ts)
// can be tested on recorded observations without running anything.

import type { AppKind } from '../config/types.js';
import type { Problem } from '../host/identity.js';

/** Stable codes: documented in docs/doctor.md, asserted by tests, never renamed. */
export const DIAGNOSIS_CODES = [
  'no-such-user',
  'no-such-group',
  'bad-cwd',
  'not-found',
  'permission-denied',
  'not-executable',
  'bad-shebang',
  'no-shebang',
  'spawn-failed',
  'import-error',
  'relative-path',
  'env-missing',
  'speaks-cgi',
  'binds-own-socket',
  'closes-connection',
  'not-fastcgi',
  'bad-headers',
  'no-input-file',
  'error-status',
  'exited',
  'no-answer',
  'socket-unreachable',
] as const;
export type DiagnosisCode = (typeof DIAGNOSIS_CODES)[number];

export interface Diagnosis {
  code: DiagnosisCode;
  /** What is wrong, naming the path, user or variable. One line. */
  message: string;
  /** What to change. One line. */
  fix: string;
}

/** Who the worker runs as: with a user, the groups fcgid gives it (src/host/processes.ts, launchLine). */
export interface Identity {
  user: string;
  uid: number;
  gid: number;
  gids: number[];
}

/** A path as the worker's user meets it. */
export interface PathFacts {
  path: string;
  exists: boolean;
  kind: 'file' | 'dir' | 'other' | null;
  mode: number | null;
  uid: number | null;
  gid: number | null;
  /** The first directory on the way that the user may not search (x). */
  blockedAt: { dir: string; mode: number; uid: number } | null;
  readable: boolean;
  /** Execute for a file, search for a directory. */
  executable: boolean;
}

export interface ShebangFacts {
  /** The #! line as written, without the newline. */
  line: string;
  interpreter: string;
  arg: string | null;
  /** The line ends in a carriage return: the kernel looks for "python3\r". */
  crlf: boolean;
  /** The interpreter file; null when the line names none. */
  facts: PathFacts | null;
  /** `#!/usr/bin/env NAME`: where the worker's PATH finds NAME (null: nowhere). */
  env: { name: string; found: string | null } | null;
  /** An interpreter of the same family that does exist (python3 for a missing python2.7), for the fix. */
  alternative: string | null;
}

export interface ProgramFacts {
  /** command[0] as written. */
  name: string;
  /** 'path': it holds a slash, taken relative to cwd; 'search': looked up in the worker's PATH. */
  lookup: 'path' | 'search';
  /** The PATH it was looked up in (the worker's, or /usr/bin:/bin when it has none). */
  searchPath: string | null;
  /** What would run; for a search that finds nothing, null. */
  resolved: PathFacts | null;
  /** Where the doctor's own PATH finds it, when the worker's does not. */
  inShellPath: string | null;
  /** ELF or other binary; a #! script; text without #! (the kernel refuses it, and libuv then runs it with /bin/sh). */
  format: 'binary' | 'shebang' | 'text' | null;
  shebang: ShebangFacts | null;
  /** An interpreter by name (python3, perl, node, sh…): its first argument is the script. */
  interpreter: boolean;
  /** For a text file without #!: the interpreter its content suggests (/usr/bin/python3 for `import flask`). */
  looksLike: string | null;
}

export interface ScriptFacts extends PathFacts {
  /** The argument as written in command. */
  arg: string;
}

export interface ResponseFacts {
  status: number;
  statusText: string;
  headers: Array<[string, string]>;
  /** The body's first KiB, as text. */
  body: string;
  bodyBytes: number;
}

export interface ExitFacts {
  code: number | null;
  signal: string | null;
  /** Milliseconds after the spawn. */
  afterMs: number;
}

/** Why the doctor stopped waiting for the answer. */
export type Outcome = 'answered' | 'failed' | 'exited' | 'timeout' | 'own-socket' | 'not-started';

export interface RunFacts {
  started: boolean;
  pid: number | null;
  /** The spawn's error code (ENOENT, EACCES…) when it could not start. */
  spawnError: string | null;
  outcome: Outcome;
  /** From the spawn to the end of the answer. */
  ms: number | null;
  response: ResponseFacts | null;
  /** The FastCGI exchange's error: the client's typed error code (FCGI_CONNECTION_CLOSED, FCGI_BAD_RESPONSE_HEAD…) and message. */
  error: { code: string; message: string } | null;
  /** The first bytes of FastCGI STDOUT, as text (for a response without a proper head). */
  firstBytes: string;
  /** Bounded: what the worker wrote on its stdout and stderr pipes, and FastCGI STDERR. */
  output: { stdout: string; stderr: string; fcgiStderr: string };
  exit: ExitFacts | null;
  /** Sockets the worker's process tree listens on besides the one it was handed (unix:/x, tcp://…). */
  ownListeners: string[];
}

export interface WebReach {
  /** The web servers' users checked, and where each name came from. */
  users: Array<{ name: string; from: string }>;
  /** src/host/reach.ts socketReach: what keeps a user from connecting, each with its fix. */
  problems: Problem[];
}

export interface Observation {
  pool: string;
  config: string;
  /** The URL path requested. */
  path: string;
  /** How long the doctor waited for the answer. */
  timeoutMs: number;
  command: string[];
  /** The pool's own socket (listen), which the doctor does not touch. */
  listen: string;
  user: Identity;
  cwd: PathFacts;
  socketFd: number;
  clearEnv: boolean;
  kind: AppKind;
  /** SCRIPT_FILENAME sent (php and cgi pools). */
  scriptFilename: string | null;
  /** identityProblems() for the pool: users and groups that do not exist, or a user without root. */
  identityProblems: Problem[];
  program: ProgramFacts | null;
  script: ScriptFacts | null;
  /** The directory of the script (or of the program when it is a script itself), where relative paths usually meant to point. */
  scriptDir: string | null;
  env: {
    worker: Record<string, string>;
    /** Names the doctor's environment (the shell it was run from) has and the worker's lacks. */
    shellOnly: string[];
    /** The shell's values of the variables that pick programs and modules (PATH, PYTHONPATH, VIRTUAL_ENV…), for the fixes. */
    shellPaths: Record<string, string>;
  };
  /** null: the worker was not run (its user or group does not exist). */
  run: RunFacts | null;
  /** The Python the worker runs, asked for its sys.path as the worker (after an import error). */
  python: { executable: string; path: string[] } | { error: string } | null;
  /** A directory near the app (its cwd, the script's directory or the one above, the shell's) that holds the module that failed to import, and is not on sys.path. */
  moduleFoundIn: string | null;
  /** Relative paths the output says could not be opened, looked up in cwd and in the script's directory. */
  files: Array<{ name: string; inCwd: boolean; inScriptDir: boolean }>;
  web: WebReach;
}
