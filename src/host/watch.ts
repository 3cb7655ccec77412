// `watch:` globs of a pool: a change to a matching file triggers one debounced
// rolling restart. chokidar (v4 and later) watches directories, not globs, so
// each pattern's fixed leading directories are watched and every event is
// matched against the pattern here.

import { isAbsolute, resolve, sep } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';

/** `**` crosses directories, `*` and `?` do not, `{a,b}` alternates, `[...]` is a class. */
export function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const slash = glob[i + 2] === '/';
        out += slash ? '(?:.*/)?' : '.*';
        i += slash ? 2 : 1;
      } else out += '[^/]*';
    } else if (c === '?') out += '[^/]';
    else if (c === '{') {
      const end = glob.indexOf('}', i);
      if (end === -1) out += '\\{';
      else {
        out += `(?:${glob
          .slice(i + 1, end)
          .split(',')
          .map((alt) => globToRegExp(alt).source.slice(1, -1))
          .join('|')})`;
        i = end;
      }
    } else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end === -1) out += '\\[';
      else {
        out += `[${glob.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else out += /[.+^$()|\\]/.test(c) ? `\\${c}` : c;
  }
  return new RegExp(`^${out}$`);
}

/** The directory a pattern can only match under: its leading parts without glob characters. */
export function globBase(pattern: string): string {
  const parts = pattern.split('/');
  const fixed: string[] = [];
  for (const part of parts.slice(0, -1)) {
    if (/[*?{[]/.test(part)) break;
    fixed.push(part);
  }
  return fixed.join('/') || '/';
}

export class PoolWatcher {
  private readonly watcher: FSWatcher;
  private timer: NodeJS.Timeout | null = null;
  private changed: string[] = [];

  constructor(
    patterns: readonly string[],
    cwd: string,
    onChange: (paths: string[]) => void,
    debounceMs = 300,
  ) {
    const absolute = patterns.map((p) => (isAbsolute(p) ? p : resolve(cwd, p)).split(sep).join('/'));
    const matchers = absolute.map(globToRegExp);
    const bases = [...new Set(absolute.map(globBase))];
    this.watcher = watch(bases, {
      ignoreInitial: true,
      // Trees that patterns rarely mean, and that are large.
      ignored: (path: string) => /\/(node_modules|\.git)(\/|$)/.test(path) && !absolute.some((p) => p.includes('node_modules') || p.includes('.git')),
    });
    this.watcher.on('all', (_event: string, path: string) => {
      const p = path.split(sep).join('/');
      if (!matchers.some((m) => m.test(p))) return;
      this.changed.push(p);
      if (this.timer) clearTimeout(this.timer);
      // Debounced: a deploy that writes many files restarts the pool once.
      this.timer = setTimeout(() => {
        this.timer = null;
        const paths = [...new Set(this.changed)];
        this.changed = [];
        onChange(paths);
      }, debounceMs);
    });
  }

  /** Resolves once the initial scan is done and changes are being reported. */
  ready(): Promise<void> {
    return new Promise((r) => this.watcher.once('ready', () => r()));
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await this.watcher.close();
  }
}

