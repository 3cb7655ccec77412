// Pools that change size and workers that are replaced for a limit, with the
// real `fcgid start` and real workers: a dynamic php-cgi pool growing under a
// ramping load (doubling what it starts each pass, never past max_workers) and
// shrinking back to min_workers once its spare workers sit idle; max_lifetime
// and max_memory recycling (replacement first, never a busy worker); and GET
// /metrics on the control socket and on metrics.listen, checked by promtool and
// against what the daemon did. Everything waits on log lines or status/metrics
// polls with a deadline, never on a fixed sleep.

import { join } from 'node:path';
import { setTimeout as pause } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/control/client.js';
import { cgiParams } from '../../src/fastcgi/index.js';
import type { PoolStatus } from '../../src/control/wire.js';
import { fastcgiOnce, httpGet, pidIn, poolOf, poolStatus, poolWhen, sample, statusOf } from '../helpers/control.js';
import { Fcgid, LEVEL, isRunning, phpPool, tearDown, writeConfig, type LogLine } from '../helpers/daemon.js';
import { Processes, Scratch, freePort, missingPeers, poll, runToEnd } from '../helpers/peers.js';

const HOST = '127.0.0.1';
const FIXTURES = fileURLToPath(new URL('../fixtures/daemon/', import.meta.url));
const SLEEP_PHP = join(FIXTURES, 'sleep.php');
const GROW_MJS = join(FIXTURES, 'grow.mjs');

// ---------------------------------------------------------------------------
// Plumbing.

/** One request over FastCGI on a fresh connection (closed by the worker when done). */
async function fastcgi(address: string, url: string, scriptFilename?: string): Promise<{ status: number; body: string; pid: number }> {
  const r = await fastcgiOnce(address, cgiParams({ url, scriptFilename, documentRoot: FIXTURES }), 60_000);
  return { ...r, pid: pidIn(r.body) };
}

/** sleep.php on a php-cgi pool: holds a worker for `ms`, then answers with its pid. */
function sleepRequest(address: string, ms: number): Promise<{ status: number; body: string; pid: number }> {
  return fastcgi(address, `/sleep.php?ms=${ms}`, SLEEP_PHP);
}

/** Slot entries (workers and replacements) whose worker is running: the processes serving. */
function serving(pool: PoolStatus): number {
  return pool.slots.filter((s) => s.state === 'running' && s.pid !== null).length;
}

/** Polls a pool's status in the background until stopped, keeping every sample. */
class StatusPoller {
  readonly samples: Array<{ pool: PoolStatus; children: number }> = [];
  private stopped = false;
  private readonly done: Promise<void>;

  constructor(
    private readonly ctl: string,
    private readonly pool: string,
    private readonly children: () => number[],
  ) {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const pool = await poolStatus(this.ctl, this.pool);
      this.samples.push({ pool, children: this.children().length });
      await pause(20);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

/**
 * Closed-loop load: each client sends a slow request, and the next as soon as
 * it is answered. The number of clients only goes up; stop() lets every
 * client finish the request it has in flight.
 */
class SlowLoad {
  readonly results: Array<{ status: number; pid: number } | { error: string }> = [];
  private readonly clients: Array<Promise<void>> = [];
  private stopping = false;

  constructor(
    private readonly address: string,
    private readonly ms: number,
  ) {}

  clientsTo(n: number): void {
    while (this.clients.length < n) this.clients.push(this.client());
  }

  get answered(): number {
    return this.results.length;
  }

  private async client(): Promise<void> {
    while (!this.stopping) {
      try {
        const r = await sleepRequest(this.address, this.ms);
        this.results.push({ status: r.status, pid: r.pid });
      } catch (err) {
        this.results.push({ error: (err as Error).message });
      }
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.clients);
  }
}

/** "6.2s", "950ms", "1m3s" (fmtMs) in milliseconds. */
function parseMs(text: string): number {
  const m = /^(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$/.exec(text);
  if (!m || text === '') throw new Error(`not a duration: ${text}`);
  return Number(m[1] ?? 0) * 60_000 + Number(m[2] ?? 0) * 1000 + Number(m[3] ?? 0);
}

/** The exit line of a worker process. */
function exitLine(l: LogLine, pid: number): boolean {
  return l.pid === pid && typeof l.reason === 'string' && typeof l.uptime_ms === 'number';
}

// --- metrics -------------------------------------------------------------


// ---------------------------------------------------------------------------
// 1. A dynamic pool under a ramping load.

const noPhp = missingPeers('php-cgi');

describe.skipIf(noPhp !== null)('a dynamic php-cgi pool (min_workers 1, max_workers 6, spare_idle_timeout 2s)', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let d: Fcgid;
  const ctl = (): string => scratch.path('dynamic.ctl');
  const address = (): string => `unix:${scratch.path('dyn.sock')}`;
  const MAX = 6;

  beforeAll(async () => {
    scratch = new Scratch('fcgid-dynamic-');
    const config = writeConfig(scratch, 'dynamic', {
      pools: {
        dyn: phpPool(address(), { min_workers: 1, max_workers: MAX, spare_idle_timeout: '2s' }),
      },
    });
    d = new Fcgid(processes, config);
    await d.waitForRunning('dyn', 1);
  });

  afterAll(() => tearDown(processes, scratch, [d]));

  it('grows while every worker is busy (1, then 2 more: doubling), never past max_workers; every request gets 200; then stops idle spares one by one down to min_workers, the first worker kept', async () => {
    const before = await poolStatus(ctl(), 'dyn');
    expect(before.workers.wanted).toBe(1);
    expect(before.slots).toHaveLength(1);
    const survivor = before.slots[0]!.pid!;
    expect(survivor).not.toBeNull();

    const m = d.mark();
    const grew = (from: number) => (l: LogLine) => l.pool === 'dyn' && /; starting \d+ more \(max_workers 6\)$/.test(l.msg) && d.lines.indexOf(l) >= from;
    const poller = new StatusPoller(ctl(), 'dyn', () => d.childPids());
    const load = new SlowLoad(address(), 1000);
    let stopped = false;
    try {
      // 1 client: the one worker is busy, so one more starts.
      load.clientsTo(1);
      const first = await d.waitForLog(grew(m), m, 20_000);
      // 3 clients on 2 workers: all busy at the next pass; the pool now starts 2.
      load.clientsTo(3);
      await d.waitForLog(grew(d.lines.indexOf(first) + 1), d.lines.indexOf(first) + 1, 20_000);
      // 8 clients, more than max_workers: the pool grows to 6 and no further.
      load.clientsTo(8);
      await poolWhen(ctl(), 'dyn', `${MAX} running workers`, (p) => p.workers.wanted === MAX && serving(p) === MAX, 30_000);
      // Demand goes on (8 clients, 6 workers, all busy) for two more scans' worth of answers.
      const answered = load.answered;
      await poll('12 more answers at max_workers', () => load.answered >= answered + 12, 30_000);
      await load.stop();
      stopped = true;
    } finally {
      if (!stopped) await load.stop();
      await poller.stop();
    }

    // Every request was answered, each with 200.
    expect(load.results.length).toBeGreaterThan(12);
    for (const r of load.results) expect(r).toMatchObject({ status: 200 });

    // The growth lines: "all N workers busy; starting K more", N the size so far, K doubling (1, 2, ...), capped by max_workers.
    const growth = d.lines.slice(m).flatMap((l) => {
      const g = /^pool dyn: all (\d+) workers busy(?:, \d+ queued)?; starting (\d+) more \(max_workers 6\)$/.exec(l.msg);
      return g ? [{ live: Number(g[1]), add: Number(g[2]), wanted: l.workers as number }] : [];
    });
    expect(growth.length).toBeGreaterThanOrEqual(3);
    expect(growth.slice(0, 2).map((g) => g.add)).toEqual([1, 2]);
    let size = 1;
    for (const [i, g] of growth.entries()) {
      expect(g.live).toBe(size);
      expect(g.wanted).toBe(size);
      if (i > 0) expect(g.add).toBeLessThanOrEqual(2 * growth[i - 1]!.add);
      size += g.add;
      expect(size).toBeLessThanOrEqual(MAX);
    }
    expect(size).toBe(MAX);

    // At no status poll more than max_workers wanted, serving or alive as the daemon's children.
    expect(poller.samples.length).toBeGreaterThan(20);
    expect(Math.max(...poller.samples.map((s) => s.pool.workers.wanted))).toBe(MAX);
    expect(Math.max(...poller.samples.map((s) => serving(s.pool)))).toBe(MAX);
    expect(Math.max(...poller.samples.map((s) => s.children))).toBeLessThanOrEqual(MAX);
    // The six workers all served.
    expect(new Set(load.results.map((r) => ('pid' in r ? r.pid : 0))).size).toBe(MAX);

    // Load over: the highest spare idle for spare_idle_timeout goes first, one per pass, down to min_workers.
    await d.waitForLog((l) => /stopping it, 1 left \(min_workers 1\)$/.test(l.msg), m, 30_000);
    const shrink = d.lines.slice(m).flatMap((l) => {
      const s = /^pool dyn: worker (dyn\/\d+) idle for (\S+) \(spare_idle_timeout 2\.0s\); stopping it, (\d+) left \(min_workers 1\)$/.exec(l.msg);
      return s ? [{ slot: s[1], idle: parseMs(s[2]!), left: Number(s[3]) }] : [];
    });
    expect(shrink.map((s) => [s.slot, s.left])).toEqual([
      ['dyn/5', 5],
      ['dyn/4', 4],
      ['dyn/3', 3],
      ['dyn/2', 2],
      ['dyn/1', 1],
    ]);
    for (const s of shrink) expect(s.idle).toBeGreaterThanOrEqual(2000);
    // Each stopped spare exited as wanted down, not as a crash.
    const spares = await poolWhen(ctl(), 'dyn', 'the spares gone', (p) => p.slots.length === 1);
    for (const line of d.lines.slice(m).filter((l) => typeof l.reason === 'string' && typeof l.uptime_ms === 'number')) {
      expect(line.reason).toBe('stopped by fcgid');
      expect(line.msg).toMatch(/; a spare worker, idle past spare_idle_timeout \(min_workers 1\)$/);
    }
    expect(spares.slots[0]!.pid).toBe(survivor);

    // And it stays at min_workers: the survivor idle past spare_idle_timeout and two more scans, still there.
    const rest = await poolWhen(ctl(), 'dyn', 'the survivor idle for 4s', (p) => p.slots[0]?.activity === 'idle' && (p.slots[0].activity_ms ?? 0) >= 4000);
    expect(rest.workers).toMatchObject({ wanted: 1, running: 1 });
    expect(rest.slots.map((s) => s.pid)).toEqual([survivor]);
    expect(d.childPids()).toEqual([survivor]);
    expect(d.lines.slice(m).filter((l) => /stopping it, 0 left/.test(l.msg))).toEqual([]);
    const after = await sleepRequest(address(), 0);
    expect(after).toMatchObject({ status: 200, pid: survivor });
  });
});

// ---------------------------------------------------------------------------
// 2. max_lifetime: each worker replaced after about its lifetime, replacement first, never while busy.

describe.skipIf(noPhp !== null)('max_lifetime 3s on a 2-worker php-cgi pool', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let d: Fcgid;
  const ctl = (): string => scratch.path('lifetime.ctl');
  const address = (): string => `unix:${scratch.path('life.sock')}`;
  const SLEEP_MS = 6000;

  beforeAll(async () => {
    scratch = new Scratch('fcgid-lifetime-');
    const config = writeConfig(scratch, 'lifetime', {
      pools: {
        life: phpPool(address(), { workers: 2, max_lifetime: '3s' }),
      },
    });
    d = new Fcgid(processes, config);
    await d.waitForRunning('life', 2);
  });

  afterAll(() => tearDown(processes, scratch, [d]));

  it('replaces each worker past its lifetime, replacement first (never fewer than 2 running), and a busy one only after its request is answered', async () => {
    const first = await poolStatus(ctl(), 'life');
    const originals = first.slots.map((s) => s.pid!);
    expect(originals).toHaveLength(2);
    expect(originals).not.toContain(null);
    const m = d.mark();
    const poller = new StatusPoller(ctl(), 'life', () => d.childPids());
    let slow: { status: number; pid: number };
    try {
      // Holds one worker well past its lifetime (3s ± 10%).
      const sleeping = sleepRequest(address(), SLEEP_MS);
      // Both original workers recycled: the idle one at about 3s, the busy one once answered.
      const exits = await Promise.all(originals.map((pid) => d.waitForLog((l) => exitLine(l, pid), m, 30_000)));
      slow = await sleeping;
      for (const e of exits) {
        expect(e.reason).toBe('recycled');
        expect(e.msg).toMatch(/; its replacement has taken over$/);
      }
    } finally {
      await poller.stop();
    }
    expect(slow.status).toBe(200);
    expect(originals).toContain(slow.pid);

    for (const pid of originals) {
      const why = d.lines.slice(m).filter((l) => l.pid === pid && /recycling it \(its replacement starts first\)$/.test(l.msg));
      // Recycled once, for max_lifetime, and no earlier than its lifetime less the 10% jitter.
      expect(why).toHaveLength(1);
      const age = /pid \d+ is (\S+) old, past max_lifetime 3\.0s; recycling it/.exec(why[0]!.msg);
      expect(age, why[0]!.msg).not.toBeNull();
      expect(parseMs(age![1]!)).toBeGreaterThanOrEqual(2700);
      // The busy worker waited for its request: it was at least SLEEP_MS old by then.
      if (pid === slow.pid) expect(parseMs(age![1]!)).toBeGreaterThanOrEqual(SLEEP_MS);
      // Replacement first: a new worker in the same slot was running before the old one exited.
      const at = d.lines.indexOf(why[0]!);
      const exit = d.lines.findIndex((l, i) => i > at && exitLine(l, pid));
      const slot = why[0]!.slot as string;
      const took = d.lines.findIndex((l, i) => i > at && i < exit && `${l.pool}/${l.worker}` === slot && l.to === 'running' && typeof l.pid === 'number' && l.pid !== pid);
      expect(took, `no replacement of ${slot} running before pid ${pid} exited`).toBeGreaterThan(at);
      expect(isRunning(pid)).toBe(false);
    }

    // Capacity never dropped: at every poll, at least 2 workers were running.
    expect(poller.samples.length).toBeGreaterThan(50);
    const low = poller.samples.filter((s) => serving(s.pool) < 2);
    expect(low.map((s) => s.pool.slots.map((x) => `${x.role} ${x.slot} ${x.pid} ${x.state}`))).toEqual([]);

    // New pids in both slots, and the metrics count the recycles.
    const now = await poolStatus(ctl(), 'life');
    for (const s of now.slots) expect(originals).not.toContain(s.pid);
    const text = (await httpGet({ socketPath: ctl(), path: '/metrics' })).body;
    expect(sample(text, 'fcgid_recycles_total', { pool: 'life' })).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'fcgid_worker_exits_total', { pool: 'life', reason: 'recycled' })).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'fcgid_worker_exits_total', { pool: 'life', reason: 'crashed' })).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------
// 3. max_memory: a Node worker that grows past it is recycled after the request that grew it.

describe('max_memory 64M on a Node worker whose memory grows on request', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let d: Fcgid;
  const ctl = (): string => scratch.path('memory.ctl');
  const address = (): string => `unix:${scratch.path('mem.sock')}`;

  beforeAll(async () => {
    scratch = new Scratch('fcgid-memory-');
    const config = writeConfig(scratch, 'memory', {
      pools: {
        mem: { command: [process.execPath, GROW_MJS], listen: address(), socket_fd: 3, workers: 1, max_memory: '64M', start_secs: '300ms' },
      },
    });
    d = new Fcgid(processes, config);
    await d.waitForRunning('mem', 1);
  });

  afterAll(() => tearDown(processes, scratch, [d]));

  it('after /grow (80 MB kept) the worker is recycled "above max_memory", its replacement running first, and the /grow request got 200', async () => {
    const [pid] = await d.waitForRunning('mem', 1);
    // Under the limit at the scans so far: it stays.
    const small = await poll('an RSS reading of the worker', async () => (await poolStatus(ctl(), 'mem')).slots[0]?.rss_bytes);
    expect(small).toBeLessThan(64 * 1024 * 1024);
    const plain = await fastcgi(address(), '/');
    expect(plain).toMatchObject({ status: 200, pid });

    const m = d.mark();
    const grown = await fastcgi(address(), '/grow?mb=80');
    expect(grown.status).toBe(200);
    expect(grown.pid).toBe(pid);
    expect(grown.body).toMatch(/holds 80 MB/);
    expect(d.lines.slice(0, m).filter((l) => /above max_memory/.test(l.msg))).toEqual([]);

    const why = await d.waitForLog((l) => l.pid === pid && /above max_memory/.test(l.msg), m);
    const rss = /pid \d+ uses (\d+)M RSS, above max_memory 64M; recycling it \(its replacement starts first\)$/.exec(why.msg);
    expect(rss, why.msg).not.toBeNull();
    expect(Number(rss![1])).toBeGreaterThan(64);
    expect(why.reason).toBe('recycled');

    const exit = await d.waitForLog((l) => exitLine(l, pid!), m);
    expect(exit.reason).toBe('recycled');
    expect(exit.msg).toMatch(/; its replacement has taken over$/);
    const at = d.lines.indexOf(why);
    const took = d.lines.findIndex((l, i) => i > at && l.pool === 'mem' && l.worker === 0 && l.to === 'running' && typeof l.pid === 'number' && l.pid !== pid);
    expect(took).toBeGreaterThan(at);
    expect(took).toBeLessThan(d.lines.indexOf(exit));
    expect(d.lines.filter((l) => l.level >= LEVEL.warn && l.pool === 'mem')).toEqual([]);

    // The replacement serves, small again, and is left alone.
    const fresh = await poll('the replacement with an RSS reading', async () => {
      const s = (await poolStatus(ctl(), 'mem')).slots;
      return s.length === 1 && s[0]!.pid !== pid && s[0]!.state === 'running' && s[0]!.rss_bytes !== null ? s[0]! : null;
    });
    expect(fresh.rss_bytes).toBeLessThan(64 * 1024 * 1024);
    const after = await fastcgi(address(), '/');
    expect(after).toMatchObject({ status: 200, pid: fresh.pid });
    expect(after.body).toMatch(/holds 0 MB/);
    expect(isRunning(pid!)).toBe(false);
  });
});

// ---------------------------------------------------------------------------
// 4. GET /metrics.

const noMetricsPeers = missingPeers('php-cgi', 'promtool', 'curl');

describe.skipIf(noMetricsPeers !== null)('GET /metrics on the control socket and on metrics.listen', () => {
  const processes = new Processes();
  let scratch: Scratch;
  let d: Fcgid;
  let phpPort: number;
  let metricsPort: number;
  const ctl = (): string => scratch.path('metrics.ctl');
  const php = (): string => `tcp://${HOST}:${phpPort}`;
  const hang = (): string => `unix:${scratch.path('hang.sock')}`;

  const viaSocket = async (): Promise<string> => {
    const r = await httpGet({ socketPath: ctl(), path: '/metrics' });
    expect(r.status).toBe(200);
    return r.body;
  };

  beforeAll(async () => {
    scratch = new Scratch('fcgid-metrics-');
    phpPort = await freePort();
    metricsPort = await freePort();
    const config = writeConfig(scratch, 'metrics', {
      metrics: { listen: `tcp://${HOST}:${metricsPort}` },
      pools: {
        php: phpPool(php(), { workers: 2 }),
        hang: phpPool(hang(), { workers: 1, idle_timeout: '2s', stop_timeout: '500ms' }),
      },
    });
    d = new Fcgid(processes, config);
    await Promise.all([d.waitForRunning('php', 2), d.waitForRunning('hang', 1)]);
    // The "running" line comes once everything listens, metrics.listen included.
    await d.waitForLog((l) => /^fcgid \S+ running 2 pools/.test(l.msg));
  });

  afterAll(() => tearDown(processes, scratch, [d]));

  it('both endpoints pass `promtool check metrics` (exit 0, no lint output) with the 0.0.4 content type', async () => {
    // After a scan, so the per-worker and queue samples are there too.
    await poll('a scan of both pools', async () => sample(await viaSocket(), 'fcgid_listen_queue', { pool: 'php' }) !== undefined);
    const curl = await runToEnd(processes, 'curl', ['-sS', '--fail', '-i', '--unix-socket', ctl(), 'http://fcgid/metrics'], { input: '' });
    expect(curl.status, curl.stderr).toBe(0);
    const [head, socketText] = curl.stdout.split('\r\n\r\n', 2) as [string, string];
    expect(head).toMatch(/^Content-Type: text\/plain; version=0\.0\.4; charset=utf-8$/im);
    const listen = await httpGet({ host: HOST, port: metricsPort, path: '/metrics' });
    expect(listen.status).toBe(200);
    expect(listen.type).toBe('text/plain; version=0.0.4; charset=utf-8');
    for (const text of [socketText, listen.body]) {
      expect(text).toMatch(/^# HELP fcgid_up /m);
      const check = await runToEnd(processes, 'promtool', ['check', 'metrics'], { input: text });
      expect({ status: check.status, output: check.stdout + check.stderr }).toEqual({ status: 0, output: '' });
      expect(sample(text, 'fcgid_up')).toBe(1);
      expect(sample(text, 'fcgid_workers_wanted', { pool: 'php' })).toBe(2);
    }
  });

  it('fcgid_workers{state="running"} is the running count; fcgid_listen_queue is there for TCP and unix pools', async () => {
    const text = await viaSocket();
    const status = await statusOf(ctl());
    for (const name of ['php', 'hang']) {
      const p = poolOf(status, name);
      expect(sample(text, 'fcgid_workers', { pool: name, state: 'running' })).toBe(serving(p));
      expect(sample(text, 'fcgid_workers', { pool: name, state: 'fatal' })).toBe(0);
    }
    expect(sample(text, 'fcgid_workers', { pool: 'php', state: 'running' })).toBe(2);
    expect(sample(text, 'fcgid_workers', { pool: 'hang', state: 'running' })).toBe(1);
    expect(sample(text, 'fcgid_listen_queue', { pool: 'php' })).toBe(0);
    expect(sample(text, 'fcgid_listen_queue', { pool: 'hang' })).toBe(0);
    for (const pid of poolOf(status, 'php').slots.map((s) => s.pid!)) {
      const slot = poolOf(status, 'php').slots.find((s) => s.pid === pid)!.slot;
      expect(sample(text, 'fcgid_worker_rss_bytes', { pool: 'php', slot: String(slot), role: 'worker' })).toBeGreaterThan(0);
    }
  });

  it('fcgid_workers_busy is 1 while one request sleeps, 0 once it is answered', async () => {
    expect(sample(await viaSocket(), 'fcgid_workers_busy', { pool: 'php' })).toBe(0);
    const sleeping = sleepRequest(php(), 4000);
    let answered = false;
    void sleeping.then(() => (answered = true)).catch(() => (answered = true));
    await poll('fcgid_workers_busy 1', async () => {
      if (answered) throw new Error('the request was answered before metrics showed it busy');
      return sample(await viaSocket(), 'fcgid_workers_busy', { pool: 'php' }) === 1;
    });
    const text = await viaSocket();
    expect(sample(text, 'fcgid_workers_idle', { pool: 'php' })).toBe(1);
    expect(sample(text, 'fcgid_workers_busy', { pool: 'hang' })).toBe(0);
    expect(await sleeping).toMatchObject({ status: 200 });
    await poll('fcgid_workers_busy 0', async () => sample(await viaSocket(), 'fcgid_workers_busy', { pool: 'php' }) === 0);
  });

  it('fcgid_worker_exits_total{reason="crashed"} and fcgid_restarts_total go up by one after kill -9 of a worker', async () => {
    const before = await viaSocket();
    const crashed = sample(before, 'fcgid_worker_exits_total', { pool: 'php', reason: 'crashed' }) ?? 0;
    const restarts = sample(before, 'fcgid_restarts_total', { pool: 'php' })!;
    expect(restarts).toBeDefined();
    const victim = (await poolStatus(ctl(), 'php')).slots[0]!.pid!;
    const m = d.mark();
    process.kill(victim, 'SIGKILL');
    await d.waitForLog((l) => exitLine(l, victim) && l.reason === 'crashed', m);
    const after = await viaSocket();
    expect(sample(after, 'fcgid_worker_exits_total', { pool: 'php', reason: 'crashed' })).toBe(crashed + 1);
    expect(sample(after, 'fcgid_restarts_total', { pool: 'php' })).toBe(restarts + 1);
    await d.waitForRunning('php', 2);
    await poll('2 running in metrics again', async () => sample(await viaSocket(), 'fcgid_workers', { pool: 'php', state: 'running' }) === 2);
  });

  it('regression: fcgid_restarts_total does not go down when a rolling restart replaces the slots that counted the restarts', async () => {
    const before = sample(await viaSocket(), 'fcgid_restarts_total', { pool: 'php' })!;
    // The kill -9 above restarted one worker.
    expect(before).toBeGreaterThanOrEqual(1);
    const r = await new ControlClient({ path: ctl(), how: '-s' }).call<{ results: Array<{ replaced: number }> }>('POST', '/v1/restart', { pools: ['php'] });
    expect(r.results[0]!.replaced).toBe(2);
    const after = await viaSocket();
    expect(sample(after, 'fcgid_restarts_total', { pool: 'php' })).toBeGreaterThanOrEqual(before);
    expect(sample(after, 'fcgid_worker_exits_total', { pool: 'php', reason: 'stopped by fcgid' })).toBe(2);
  });

  it('fcgid_hung_kills_total goes up by one after a hung worker is killed (idle_timeout 2s, a sleeping script)', async () => {
    const before = await viaSocket();
    expect(sample(before, 'fcgid_hung_kills_total', { pool: 'hang' })).toBe(0);
    expect(sample(before, 'fcgid_hung_kills_total', { pool: 'php' })).toBe(0);
    const m = d.mark();
    // Sleeps far longer than idle_timeout: no I/O, so it is hung; the kill ends the request one way or another.
    const stuck = sleepRequest(hang(), 60_000).catch((err: Error) => err);
    const hung = await d.waitForLog((l) => l.pool === 'hang' && l.reason === 'hung' && /is hung/.test(l.msg), m);
    expect(sample(await viaSocket(), 'fcgid_hung_kills_total', { pool: 'hang' })).toBe(1);
    await d.waitForLog((l) => exitLine(l, hung.pid as number) && l.reason === 'hung', m);
    const after = await viaSocket();
    expect(sample(after, 'fcgid_worker_exits_total', { pool: 'hang', reason: 'hung' })).toBe(1);
    expect(sample(after, 'fcgid_hung_kills_total', { pool: 'php' })).toBe(0);
    await stuck;
    await d.waitForRunning('hang', 1);
  });

  it('metrics.listen answers 404 to anything but GET /metrics', async () => {
    for (const [method, path] of [
      ['GET', '/'],
      ['GET', '/metrics/x'],
      ['GET', '/v1/status'],
      ['POST', '/metrics'],
    ] as const) {
      const r = await httpGet({ host: HOST, port: metricsPort, method, path });
      expect({ method, path, status: r.status }).toEqual({ method, path, status: 404 });
    }
    const q = await httpGet({ host: HOST, port: metricsPort, path: '/metrics?name[]=fcgid_up' });
    expect(q.status).toBe(200);
  });
});
