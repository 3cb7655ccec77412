// `fcgid import`'s core: a peer's config text in, fcgid YAML and notes out.
// Pure: the CLI reads the file and writes the result. The format is told by
// the caller or recognized from the content; every reader builds a Draft
// (draft.ts) that writer.ts prints.

import { Draft, FORMATS, type Format } from './draft.js';
import { MigrateError, displayName } from './errors.js';
import { fromApache } from './apache.js';
import { fromLighttpd } from './lighttpd.js';
import { fromPhpFpm } from './php-fpm.js';
import { fromSpawnFcgi } from './spawn-fcgi.js';
import { fromSupervisord } from './supervisord.js';
import { checkInput, oneLine } from './text.js';
import { writeYaml } from './writer.js';

export { FORMATS, MigrateError, type Format };

export interface Migration {
  format: Format;
  yaml: string;
  /** The pools written, by name. */
  pools: string[];
  /** Each comment of the output as one line: `pool: setting (line N): what to do`. */
  notes: string[];
}

/** What each format's files hold that the others' do not; checked in this order. */
const SIGNS: Array<[Format, RegExp]> = [
  ['supervisord', /^\s*\[(fcgi-program:|program:|supervisord\]|supervisorctl\]|unix_http_server\]|eventlistener:|group:)/m],
  ['php-fpm', /^\s*(pm\s*=|pm\.max_children\s*=|listen\.owner\s*=|php_(admin_)?(value|flag)\[)/m],
  ['lighttpd', /^\s*fastcgi\.server\s*\+?:?=/m],
  ['apache', /^\s*(<\/?(VirtualHost|Directory|IfModule)\b|FastCgi(Server|ExternalServer|Config)\b|Fcgid\w+|AddHandler\s+fcgid-script)/im],
  ['spawn-fcgi', /(^|[\s/="'])spawn-fcgi(\s|$|["'])/m],
];

/** The format a config's text is in, or null when it looks like none of them. */
export function detectFormat(text: string): Format | null {
  return SIGNS.find(([, sign]) => sign.test(text))?.[0] ?? null;
}

/**
 * `text` (a supervisord, php-fpm, spawn-fcgi, lighttpd or Apache config) as fcgid YAML.
 * `file` names it in messages and the header; when absolute, supervisord's %(here)s is its directory.
 * Throws MigrateError for input it cannot read.
 */
export function migrate(format: Format | null, text: string, file: string): Migration {
  const input = checkInput(text, file);
  const chosen = format ?? detectFormat(input);
  if (chosen === null) {
    throw new MigrateError(file, null, `cannot tell which program this config is for; say it with --from ${FORMATS.join('|')}`);
  }
  const here = file.startsWith('/') ? file.slice(0, file.lastIndexOf('/')) || '/' : null;
  const draft = read(chosen, input, file, here);
  if (draft.pools.length === 0) {
    const why = draft.notes.map((n) => `${n.settings.join(', ')}${n.lines.length > 0 ? ` (line ${n.lines.join(', ')})` : ''}: ${n.advice}`);
    throw new MigrateError(
      file,
      null,
      `no FastCGI program for fcgid to run in this ${chosen} config (${WHAT[chosen]})${why.length > 0 ? `; ${why.join('; ')}` : ''}`,
    );
  }
  return { format: chosen, yaml: writeYaml(draft), pools: draft.pools.map((p) => p.name), notes: notes(draft) };
}

const WHAT: Record<Format, string> = {
  supervisord: 'fcgid imports [fcgi-program:x] sections',
  'php-fpm': 'fcgid imports [pool] sections',
  'spawn-fcgi': 'fcgid imports a spawn-fcgi command line',
  lighttpd: 'fcgid imports fastcgi.server backends with a bin-path',
  apache: 'fcgid imports FastCgiServer, FcgidWrapper, and .fcgi programs a ScriptAlias names',
};

function read(format: Format, text: string, file: string, here: string | null): Draft {
  switch (format) {
    case 'supervisord':
      return fromSupervisord(text, file, here);
    case 'php-fpm':
      return fromPhpFpm(text, file);
    case 'spawn-fcgi':
      return fromSpawnFcgi(text, file);
    case 'lighttpd':
      return fromLighttpd(text, file);
    case 'apache':
      return fromApache(text, file);
  }
}

function notes(draft: Draft): string[] {
  const name = displayName(draft.file === '-' ? '<stdin>' : draft.file);
  const line = (where: string, n: Draft['notes'][number]): string => {
    const settings = n.settings.length > 0 ? `${n.settings.join(', ')}` : '';
    const lines = n.lines.length > 0 ? ` (${name}:${n.lines.join(', ')})` : '';
    return oneLine(`${where}${settings}${lines}${settings || lines ? ': ' : ''}${n.advice}`);
  };
  return [...draft.notes.map((n) => line('', n)), ...draft.pools.flatMap((p) => p.notes.map((n) => line(`${p.name}: `, n)))];
}
