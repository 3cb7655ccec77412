// Turns a Draft into the fcgid YAML `fcgid import` prints: a header saying
// where it came from, then `pools:` with keys in the order of
// docs/configuration.md, each followed by the peer setting it came from, and
// at the end of each pool the settings fcgid has no equivalent for.

import { Document, Pair, Scalar, YAMLMap, YAMLSeq } from 'yaml';
import { POOL_KEYS, type Draft, type Note, type PoolDraft, type Value } from './draft.js';
import { oneLine } from './text.js';

const TITLES: Record<Draft['format'], string> = {
  supervisord: 'supervisord',
  'php-fpm': 'php-fpm',
  'spawn-fcgi': 'spawn-fcgi',
  lighttpd: 'lighttpd',
  apache: 'Apache mod_fcgid / mod_fastcgi',
};

/** Comment lines are wrapped here (the indentation of a pool's comments comes on top). */
const WIDTH = 100;
/** A setting quoted in a comment is cut here: the line number finds the rest. */
const SETTING_CHARS = 90;
/** A command longer than this is written one word a line. */
const FLOW_CHARS = 100;

export function writeYaml(draft: Draft): string {
  const doc = new Document(new YAMLMap());
  const source = draft.file === '-' ? 'standard input' : oneLine(draft.file);
  const header = [
    `Imported by \`fcgid import\` from ${source} (${TITLES[draft.format]}).`,
    ...wrap(
      'At the end of each pool: the settings fcgid has no equivalent for (and what to do instead), and what changes on the web server. ' +
        'Check it with `fcgid check -c FILE`; `fcgid web-config nginx|apache|lighttpd -c FILE` prints the web server side.',
      WIDTH,
    ),
  ];
  const fileNotes = draft.notes.length > 0 ? ['', 'Not carried over from the file as a whole:', ...renderNotes(draft.notes)] : [];
  doc.commentBefore = [...header, ...fileNotes].map((l) => (l === '' ? '' : ` ${l}`)).join('\n');

  const pools = new YAMLMap();
  for (const pool of draft.pools) {
    const key = new Scalar(pool.name);
    key.commentBefore = ` ${oneLine(pool.origin)}`;
    pools.add(new Pair(key, poolMap(pool)));
  }
  (doc.contents as YAMLMap).add(new Pair(new Scalar('pools'), pools));
  const text = doc.toString({ lineWidth: 0, flowCollectionPadding: false });
  return text.endsWith('\n') ? text : `${text}\n`;
}

function poolMap(pool: PoolDraft): YAMLMap {
  const map = new YAMLMap();
  for (const key of POOL_KEYS) {
    if (key === 'env') {
      if (pool.env.size === 0) continue;
      const env = new YAMLMap();
      for (const [name, { value, from }] of pool.env) env.add(new Pair(new Scalar(name), withComment(new Scalar(value), from)));
      map.add(new Pair(new Scalar('env'), env));
    } else if (key === 'web') {
      const web = webMap(pool);
      if (web) map.add(new Pair(new Scalar('web'), web));
    } else {
      const entry = pool.values.get(key);
      // A comment that would only repeat the key (`user: www-data # user`) is left out.
      if (entry) map.add(new Pair(new Scalar(key), withComment(node(entry.value), entry.from === key ? null : entry.from)));
    }
  }
  const lines: string[] = [];
  if (pool.notes.length > 0) lines.push('Not carried over:', ...renderNotes(pool.notes));
  if (pool.webServer.length > 0) lines.push('Web server:', ...pool.webServer.flatMap((s) => wrap(`- ${oneLine(s)}`, WIDTH, '  ')));
  if (lines.length > 0) map.comment = lines.map((l) => ` ${l}`).join('\n');
  return map;
}

function webMap(pool: PoolDraft): YAMLMap | null {
  const { mount, kind, root, static: statics } = pool.web;
  if (mount === null && kind === null && root === null && statics.size === 0) return null;
  const web = new YAMLMap();
  if (mount !== null) web.add(new Pair(new Scalar('mount'), new Scalar(mount)));
  if (kind !== null) web.add(new Pair(new Scalar('kind'), new Scalar(kind)));
  if (root !== null) web.add(new Pair(new Scalar('root'), new Scalar(root)));
  if (statics.size > 0) {
    const s = new YAMLMap();
    for (const [url, dir] of statics) s.add(new Pair(new Scalar(url), new Scalar(dir)));
    web.add(new Pair(new Scalar('static'), s));
  }
  return web;
}

function node(value: Value): Scalar | YAMLSeq {
  if (Array.isArray(value)) {
    const seq = new YAMLSeq();
    for (const v of value) seq.items.push(new Scalar(v));
    seq.flow = value.reduce((n, v) => n + v.length + 2, 0) <= FLOW_CHARS;
    return seq;
  }
  if (typeof value === 'object') {
    const s = new Scalar(value.mode);
    s.type = Scalar.QUOTE_DOUBLE;
    return s;
  }
  return new Scalar(value);
}

function withComment<T extends Scalar | YAMLSeq>(n: T, from: string | null): T {
  // A block list's comment would land after its last item, far from the key.
  if (from !== null && !(n instanceof YAMLSeq && !n.flow)) n.comment = ` ${from}`;
  return n;
}

function renderNotes(notes: Note[]): string[] {
  return notes.flatMap((n) => {
    const settings = n.settings.map((s) => oneLine(s.length > SETTING_CHARS ? `${s.slice(0, SETTING_CHARS - 1)}…` : s)).join(', ');
    const lines = n.lines.length === 0 ? '' : ` (line${n.lines.length === 1 ? '' : 's'} ${n.lines.join(', ')})`;
    const head = settings === '' ? '' : `${settings}${lines}: `;
    return wrap(`- ${head}${oneLine(n.advice)}`, WIDTH, '  ');
  });
}

/** Words to lines of at most `width` characters; lines after the first start with `indent`. */
export function wrap(text: string, width: number, indent = ''): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      out.push(line);
      line = indent + word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  out.push(line);
  return out;
}
