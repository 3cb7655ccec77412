#!/usr/bin/env node
// Throughput of the application-side codec alone (no sockets): a stream of the
// requests nginx sends (BEGIN_REQUEST, its stock fastcgi_params plus the usual
// browser headers, small STDIN) is fed to ServerSession in socket-sized chunks.
// Results are printed, never asserted: docs/benchmarks.md records them.
//
//   node benchmarks/parser.mjs                       # 5 runs x 2 s after a 1 s warm-up
//   options: --runs=N --duration=S --chunk=BYTES --requests=N (distinct requests in the stream)
//            --dist=DIR (measure another build, e.g. of the code before a change)
//
// Needs a build (npm run build): it imports dist/protocol.

import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = new Map(
  process.argv.slice(2).map((a) => {
    const m = /^--([a-z-]+)=(.*)$/.exec(a);
    if (!m) throw new Error(`unknown argument ${a}; see the header of benchmarks/parser.mjs`);
    return [m[1], m[2]];
  }),
);
const num = (name, dflt) => {
  const v = Number(args.get(name) ?? dflt);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
};
const RUNS = num('runs', 5);
const DURATION_S = num('duration', 2);
const CHUNK = num('chunk', 64 * 1024);
const DISTINCT = num('requests', 1000);
const DIST = path.resolve(args.get('dist') ?? path.join(root, 'dist'));

const { ServerSession, RecordType, Role, encodeBeginRequest, encodeParams, encodeStream } = await import(
  pathToFileURL(path.join(DIST, 'protocol/index.js')).href
);

/**
 * What nginx 1.22 sends for a browser request with the stock fastcgi_params and
 * SCRIPT_FILENAME; HTTP_* are the request headers, which nginx adds after its params.
 * Every second request is a small form POST.
 */
function nginxParams(i) {
  const post = i % 2 === 1;
  const query = `page=${i % 50}&sort=desc`;
  const body = post ? Buffer.from(`name=user${i}&comment=hello+world%21&ok=1`) : Buffer.alloc(0);
  const params = [
    ['QUERY_STRING', post ? '' : query],
    ['REQUEST_METHOD', post ? 'POST' : 'GET'],
    ['CONTENT_TYPE', post ? 'application/x-www-form-urlencoded' : ''],
    ['CONTENT_LENGTH', post ? String(body.length) : ''],
    ['SCRIPT_NAME', '/app/index'],
    ['REQUEST_URI', post ? '/app/index' : `/app/index?${query}`],
    ['DOCUMENT_URI', '/app/index'],
    ['DOCUMENT_ROOT', '/var/www/example'],
    ['SERVER_PROTOCOL', 'HTTP/1.1'],
    ['REQUEST_SCHEME', 'https'],
    ['HTTPS', 'on'],
    ['GATEWAY_INTERFACE', 'CGI/1.1'],
    ['SERVER_SOFTWARE', 'nginx/1.22.1'],
    ['REMOTE_ADDR', `203.0.113.${i % 250}`],
    ['REMOTE_PORT', String(40000 + (i % 20000))],
    ['SERVER_ADDR', '192.0.2.10'],
    ['SERVER_PORT', '443'],
    ['SERVER_NAME', 'www.example.com'],
    ['REDIRECT_STATUS', '200'],
    ['SCRIPT_FILENAME', '/var/www/example/app/index'],
    ['HTTP_HOST', 'www.example.com'],
    ['HTTP_USER_AGENT', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36'],
    ['HTTP_ACCEPT', 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8'],
    ['HTTP_ACCEPT_LANGUAGE', 'en-US,en;q=0.9'],
    ['HTTP_ACCEPT_ENCODING', 'gzip, deflate, br'],
    ['HTTP_COOKIE', `session=${(0x9e3779b9 * (i + 1) >>> 0).toString(16).padStart(8, '0').repeat(4)}; theme=dark`],
    ['HTTP_REFERER', 'https://www.example.com/app/'],
  ];
  if (post) params.push(['HTTP_ORIGIN', 'https://www.example.com']);
  return { params, body };
}

// nginx always uses request id 1, and sends a whole request in one write.
const parts = [];
let paramsBytes = 0;
for (let i = 0; i < DISTINCT; i++) {
  const { params, body } = nginxParams(i);
  const encoded = encodeParams(1, params);
  paramsBytes += encoded.length;
  parts.push(encodeBeginRequest(1, Role.RESPONDER, true), encoded, encodeStream(RecordType.STDIN, 1, body, true));
}
const stream = Buffer.concat(parts);
// Views of one buffer, cut without regard to record boundaries, as a socket would.
const chunks = [];
for (let at = 0; at < stream.length; at += CHUNK) chunks.push(stream.subarray(at, Math.min(at + CHUNK, stream.length)));

let requests = 0;
let paramCount = 0;
let stdinBytes = 0;
let session;
const handler = {
  onBegin() {},
  onParams(_id, params) {
    requests++;
    paramCount += params.size;
  },
  onStdin(id, chunk) {
    stdinBytes += chunk.length;
    // The request is "answered" once its input is complete, so id 1 can begin again.
    if (chunk.length === 0) session.finish(id);
  },
  onData() {},
  onAbort() {},
  onReject(id, status) {
    throw new Error(`request ${id} rejected with protocol status ${status}`);
  },
  onGetValues() {},
  onUnknownType() {},
};

function run(seconds) {
  session = new ServerSession(handler);
  requests = 0;
  let bytes = 0;
  const cpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  const limit = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  do {
    for (const c of chunks) session.push(c);
    bytes += stream.length;
    now = process.hrtime.bigint();
  } while (now < limit);
  const s = Number(now - start) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  // Per second of this thread's CPU time too: on a shared machine, time spent
  // descheduled lowers MB/s but not MB per CPU-second.
  const cpuS = (cpu.user + cpu.system) / 1e6;
  return { mbps: bytes / s / 1e6, rps: requests / s, mbPerCpuS: bytes / cpuS / 1e6, cpuShare: cpuS / s };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

console.log(`# fcgid parser benchmark\n`);
console.log(`- node ${process.version}, ${os.availableParallelism?.() ?? os.cpus().length} x ${os.cpus()[0]?.model ?? 'unknown'}`);
console.log(
  `- stream: ${DISTINCT} distinct requests, ${(stream.length / DISTINCT).toFixed(0)} bytes each on average ` +
    `(PARAMS ${(paramsBytes / DISTINCT).toFixed(0)} bytes with ${nginxParams(0).params.length}-${nginxParams(1).params.length} params; ` +
    `half GET, half POST with a ${nginxParams(1).body.length}-byte body), fed in ${CHUNK}-byte chunks`,
);
console.log(`- ${RUNS} runs of ${DURATION_S} s after a 1 s warm-up, build ${path.relative(process.cwd(), DIST) || '.'}`);
console.log(`- command: node benchmarks/parser.mjs${process.argv.slice(2).map((a) => ` ${a}`).join('')}\n`);

run(1);
const results = [];
for (let i = 0; i < RUNS; i++) {
  const r = run(DURATION_S);
  results.push(r);
  console.log(
    `run ${i + 1}: ${r.mbps.toFixed(1)} MB/s, ${Math.round(r.rps).toLocaleString('en-US')} requests/s, ` +
      `${r.mbPerCpuS.toFixed(1)} MB per CPU-second (on CPU ${(100 * r.cpuShare).toFixed(0)}% of the time)`,
  );
}
if (paramCount === 0 || stdinBytes === 0) throw new Error('the handler saw no params or no STDIN: the benchmark is broken');

console.log('\n| measure | median | min | max |');
console.log('|---|---:|---:|---:|');
const row = (name, xs, f) => console.log(`| ${name} | **${f(median(xs))}** | ${f(Math.min(...xs))} | ${f(Math.max(...xs))} |`);
row('MB/s (1 MB = 10^6 bytes)', results.map((r) => r.mbps), (x) => x.toFixed(1));
row('requests/s', results.map((r) => r.rps), (x) => Math.round(x).toLocaleString('en-US'));
row('MB per CPU-second', results.map((r) => r.mbPerCpuS), (x) => x.toFixed(1));
row('µs of CPU per request', results.map((r) => (r.mbps / r.mbPerCpuS) * 1e6 / r.rps), (x) => x.toFixed(2));
