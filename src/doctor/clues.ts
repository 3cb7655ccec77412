// What a worker's output says, read the way a person reads a traceback: the
// import that failed, the relative file it could not open, the environment
// variable it looked for, a CGI header printed on stdout. Pure functions over
// text; every result is bounded, whatever the input.

/** Names and paths taken from output are at most this many, each at most MAX_NAME characters. */
const MAX_FOUND = 10;
const MAX_NAME = 1024;

function collect(text: string, patterns: readonly RegExp[], keep: (s: string) => boolean = () => true): string[] {
  const found = new Set<string>();
  for (const re of patterns) {
    for (const m of text.matchAll(re)) {
      const s = m[1]!;
      if (s.length > 0 && s.length <= MAX_NAME && keep(s)) found.add(s);
      if (found.size >= MAX_FOUND) return [...found];
    }
  }
  return [...found];
}

export interface ImportClue {
  /** The exception line: "ModuleNotFoundError: No module named 'yourapplication'". */
  line: string;
  /** The module, when the message names one. */
  module: string | null;
}

/** The last Python import failure in the output, if any. */
export function importError(text: string): ImportClue | null {
  const lines = [...text.matchAll(/^(?:ModuleNotFoundError|ImportError): .*$/gm)];
  const line = lines.at(-1)?.[0];
  if (line === undefined) return null;
  // Python 3 quotes the name, Python 2 does not; "cannot import name 'x' from 'y'" names y.
  const m = /No module named '?([\w.]+)'?/.exec(line) ?? /cannot import name '?\w+'? from '?([\w.]+)'?/.exec(line);
  return { line: line.slice(0, MAX_NAME), module: m ? m[1]! : null };
}

/**
 * Relative paths the program failed to open because they do not exist:
 * Python's FileNotFoundError (IOError in Python 2), PHP's "Failed to open
 * stream", Node's ENOENT. Absolute paths are left out: the working directory
 * does not change what they name.
 */
export function relativeOpens(text: string): string[] {
  return collect(
    text,
    [
      /(?:FileNotFoundError|IOError|OSError): \[Errno 2\] No such file or directory: '([^'\n]+)'/g,
      /\b\w+\(([^()\n]+)\): [Ff]ailed to open stream: No such file or directory/g,
      /ENOENT: no such file or directory, (?:open|stat|lstat|scandir|access) '([^'\n]+)'/g,
    ],
    (p) => !p.startsWith('/') && !p.includes('\0'),
  );
}

const VAR = '[A-Za-z_][A-Za-z0-9_]*';

/**
 * Environment variables the output names as missing or looked up: Python's
 * KeyError and os.environ[...] / os.getenv(...), PHP's getenv() and
 * $_ENV/$_SERVER, Node's process.env.X, and messages such as "SECRET_KEY is
 * not set". The caller keeps those the worker lacks and the shell has.
 */
export function namedVariables(text: string): string[] {
  return collect(text, [
    new RegExp(`KeyError: '(${VAR})'`, 'g'),
    new RegExp(`environ(?:\\.get)?\\(?\\[?\\s*['"](${VAR})['"]`, 'g'),
    new RegExp(`getenv\\(\\s*['"](${VAR})['"]`, 'g'),
    new RegExp(`\\$_(?:ENV|SERVER)\\[\\s*['"](${VAR})['"]`, 'g'),
    new RegExp(`process\\.env\\.(${VAR})`, 'g'),
    new RegExp(`process\\.env\\[\\s*['"](${VAR})['"]`, 'g'),
    /\$?\b([A-Z][A-Z0-9_]{2,})\b (?:is not set|not set|is missing|is required|must be set|is undefined|is empty)/g,
    /(?:environment variable|env var|variable) \$?['"]?([A-Z][A-Z0-9_]{2,})\b/gi,
  ]);
}

/** A CGI header line among the first lines of the worker's stdout: it answers as a CGI program would. */
export function cgiHeaderOnStdout(stdout: string): string | null {
  const first = stdout.split('\n', 20);
  return first.find((l) => /^(?:content-type|status|location):\s*\S/i.test(l.trim()))?.trim().slice(0, 200) ?? null;
}

/** The last line that says something (an exception's line ends a traceback), at most 300 characters. */
export function lastLine(text: string): string | null {
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!.trim();
    if (l !== '') return l.length > 300 ? `${l.slice(0, 300)}…` : l;
  }
  return null;
}
