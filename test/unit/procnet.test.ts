// The /proc parsers behind the scoreboard and socket activation
// (src/supervisor/procnet.ts), on hand-written text in the kernel's exact format:
// net/unix/af_unix.c unix_seq_show ("%pK: %08X %08X %08X %04X %02X %5lu" then
// " path" when bound) and net/ipv4/tcp_ipv4.c get_tcp4_sock / net/ipv6/tcp_ipv6.c
// get_tcp6_sock (addresses as 32-bit words in host order, so little-endian here;
// "tx_queue:rx_queue", where a LISTEN row's rx_queue is its accept queue).
// The last block reads this machine's /proc for the per-process probes.

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ProcObserver, Wakeups } from '../../src/host/observe.js';
import type { PoolProbe } from '../../src/supervisor/port.js';
import { addressOfInode, blockedIn, ioCounter, socketFds, socketInode, tcpListeners, tcpRows, unixRows, unixRowsOf, unixSocketPaths } from '../../src/host/procnet.js';

// ---------------------------------------------------------------------------
// /proc/net/unix. Num is %pK (zeros under kptr_restrict); Flags 00010000 is
// __SO_ACCEPTCON (listening); St 01 unconnected, 02 connecting (an embryo in
// a listener's queue: no file yet, so inode 0), 03 connected. A socket accepted
// from a listener carries the listener's path; the client end carries none.

const UNIX = [
  'Num       RefCount Protocol Flags    Type St Inode Path',
  '0000000000000000: 00000002 00000000 00010000 0001 01 41001 /run/fcgid/app.sock',
  '0000000000000000: 00000003 00000000 00000000 0001 03 41002 /run/fcgid/app.sock',
  '0000000000000000: 00000003 00000000 00000000 0001 03 41003',
  '0000000000000000: 00000003 00000000 00000000 0001 02     0 /run/fcgid/app.sock',
  '0000000000000000: 00000002 00000000 00010000 0001 01 41010 /tmp/two  spaces.sock',
  '0000000000000000: 00000002 00000000 00010000 0001 01 41011 @/tmp/.X11-unix/X0',
  '0000000000000000: 00000002 00000000 00000000 0002 01 41012 /run/systemd/notify',
  '0000000000000000: 00000002 00000000 00000000 0001 01  9999',
  '',
].join('\n');

describe('/proc/net/unix', () => {
  it('unixRows: one row per socket bound to a path (abstract and unbound left out), inode, path, St as printed, and whether it listens (Flags 00010000)', () => {
    expect(unixRows(UNIX)).toStrictEqual([
      { inode: 41001, path: '/run/fcgid/app.sock', state: '01', listening: true },
      { inode: 41002, path: '/run/fcgid/app.sock', state: '03', listening: false },
      { inode: 0, path: '/run/fcgid/app.sock', state: '02', listening: false },
      { inode: 41010, path: '/tmp/two  spaces.sock', state: '01', listening: true },
      { inode: 41012, path: '/run/systemd/notify', state: '01', listening: false },
    ]);
  });

  it('unixSocketPaths: inode → path, the path byte for byte (the kernel prints it after one space, verbatim)', () => {
    expect(unixSocketPaths(UNIX)).toStrictEqual(
      new Map([
        [41001, '/run/fcgid/app.sock'],
        [41002, '/run/fcgid/app.sock'],
        [0, '/run/fcgid/app.sock'],
        [41010, '/tmp/two  spaces.sock'],
        [41012, '/run/systemd/notify'],
      ]),
    );
  });

  it('unixRowsOf: exactly the rows unixRows gives at the listeners\' paths, found without parsing the rest', () => {
    const atPaths = (inodes: number[]) => {
      const rows = unixRows(UNIX);
      const paths = new Set(rows.filter((r) => inodes.includes(r.inode)).map((r) => r.path));
      return rows.filter((r) => paths.has(r.path));
    };
    expect(unixRowsOf([41001], UNIX)).toStrictEqual(atPaths([41001]));
    expect(unixRowsOf([41010, 41001], UNIX)).toStrictEqual([...atPaths([41010]), ...atPaths([41001])]);
    // Not in the table, abstract, unbound: nothing.
    expect(unixRowsOf([5, 41011, 9999], UNIX)).toEqual([]);
    expect(unixRowsOf([41001], '')).toEqual([]);
  });

  it('unixRowsOf finds the rows of a path that is not UTF-8 as the kernel printed it (byte for byte), in the table\'s bytes, and gives the path decoded', () => {
    const bytes = Buffer.concat([
      Buffer.from('Num       RefCount Protocol Flags    Type St Inode Path\n'),
      Buffer.from('0000000000000000: 00000002 00000000 00010000 0001 01 41001 /run/\xff\xfe.sock\n', 'latin1'),
      Buffer.from('0000000000000000: 00000003 00000000 00000000 0001 03 41002 /run/\xff\xfe.sock\n', 'latin1'),
      Buffer.from('0000000000000000: 00000003 00000000 00000000 0001 03 41003 /run/\xfe\xff.sock\n', 'latin1'),
    ]);
    const rows = unixRowsOf([41001], bytes);
    expect(rows.map((r) => r.inode)).toEqual([41001, 41002]);
    expect(rows[0]!.path).toBe(Buffer.from('/run/\xff\xfe.sock', 'latin1').toString('utf8'));
  });

  it('unixRowsOf is not fooled by a path that holds an inode or ends with the listener\'s path, nor by a last row without a newline', () => {
    const tricky = [
      'Num       RefCount Protocol Flags    Type St Inode Path',
      '0000000000000000: 00000002 00000000 00010000 0001 01 50001 /tmp/x 41001 /run/a.sock',
      '0000000000000000: 00000002 00000000 00010000 0001 01 41001 /run/a.sock',
      '0000000000000000: 00000003 00000000 00000000 0001 03 41002 /run/a.sock',
      '0000000000000000: 00000003 00000000 00000000 0001 03 41003 /run/a.sock',
    ].join('\n');
    expect(unixRowsOf([41001], tricky)).toStrictEqual([
      { inode: 41001, path: '/run/a.sock', state: '01', listening: true },
      { inode: 41002, path: '/run/a.sock', state: '03', listening: false },
      { inode: 41003, path: '/run/a.sock', state: '03', listening: false },
    ]);
    expect(unixRowsOf([50001], tricky)).toStrictEqual([{ inode: 50001, path: '/tmp/x 41001 /run/a.sock', state: '01', listening: true }]);
  });

  it('unixRowsOf sees through rows forged by a path that holds newlines: a listening row whose inode is on another row is marked forged, and every path the listener\'s inode is given counts', () => {
    const forged = [
      'Num       RefCount Protocol Flags    Type St Inode Path',
      // Someone else's socket, bound at "/tmp/x\n0000…: … 41001 /tmp/elsewhere\n0000…: … 41005 /run/a.sock".
      '0000000000000000: 00000002 00000000 00010000 0001 01 50001 /tmp/x',
      '0000000000000000: 00000002 00000000 00010000 0001 01 41001 /tmp/elsewhere',
      '0000000000000000: 00000002 00000000 00010000 0001 01 41005 /run/a.sock',
      '0000000000000000: 00000002 00000000 00010000 0001 01 41001 /run/a.sock',
      '0000000000000000: 00000003 00000000 00000000 0001 03 41002 /run/a.sock',
      // A worker's stdout: a socketpair, no path.
      '0000000000000000: 00000003 00000000 00000000 0001 03 41005',
    ].join('\n');
    const rows = unixRowsOf([41001], forged);
    expect(rows.find((r) => r.inode === 41005)).toMatchObject({ path: '/run/a.sock', listening: true, forged: true });
    expect(rows.find((r) => r.inode === 41002)).toMatchObject({ path: '/run/a.sock', listening: false });
    expect(rows.find((r) => r.inode === 41002)?.forged).toBeUndefined();
    expect(new Set(rows.filter((r) => r.inode === 41001).map((r) => r.path))).toEqual(new Set(['/tmp/elsewhere', '/run/a.sock']));
    // A real second listener at the path (a worker that bound its own) is not forged.
    const second = unixRowsOf([41001], UNIX.replace('41010 /tmp/two  spaces.sock', '41010 /run/fcgid/app.sock')).find((r) => r.inode === 41010);
    expect(second).toMatchObject({ path: '/run/fcgid/app.sock', listening: true });
    expect(second).not.toHaveProperty('forged');
  });

  it('a header alone, or nothing at all (no /proc), gives no rows', () => {
    expect(unixRows(UNIX.split('\n')[0]!)).toEqual([]);
    expect(unixRows('')).toEqual([]);
    expect(unixSocketPaths('')).toEqual(new Map());
  });
});

// ---------------------------------------------------------------------------
// /proc/net/tcp and tcp6. Port 9000 is 2328, 8080 is 1F90, 443 is 01BB.
// 127.0.0.1 is the word 0x7F000001 in network order, stored little-endian:
// printed 0100007F. 192.168.1.20 → 1401A8C0. The TIME_WAIT row has the shorter
// get_timewait4_sock layout and inode 0.

const TCP_HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     ';
const TCP = [
  TCP_HEADER,
  '   0: 0100007F:2328 00000000:0000 0A 00000000:00000003 00:00000000 00000000  1000        0 52001 1 0000000000000000 100 0 0 10 0                       ',
  '   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 52002 1 0000000000000000 100 0 0 10 0                       ',
  '   2: 0100007F:2328 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 52003 1 0000000000000000 20 4 30 10 -1                    ',
  '   3: 0100007F:D431 0100007F:2328 01 00000000:00000000 00:00000000 00000000  1000        0 52004 1 0000000000000000 20 4 30 10 -1                    ',
  '   4: 1401A8C0:1F90 0501A8C0:C350 01 00000010:00000020 01:00000014 00000000    33        0 52005 1 0000000000000000 20 4 31 10 -1                    ',
  '   5: 0100007F:2328 0100007F:D433 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000                                      ',
  '',
].join('\n');

const TCP6_HEADER = '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
const TCP6 = [
  TCP6_HEADER,
  // [::1]:9000 listening with one connection waiting to be accepted.
  '   0: 00000000000000000000000001000000:2328 00000000000000000000000000000000:0000 0A 00000000:00000001 00:00000000 00000000  1000        0 53001 1 0000000000000000 100 0 0 10 0',
  // [::]:8080, dual-stack: an IPv4 client shows up below as ::ffff:127.0.0.1.
  '   1: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 53002 1 0000000000000000 100 0 0 10 0',
  '   2: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:E4E6 01 00000000:00000000 00:00000000 00000000     0        0 53003 1 0000000000000000 20 4 30 10 -1',
  '   3: 00000000000000000000000001000000:2328 00000000000000000000000001000000:8CD2 01 00000000:00000000 00:00000000 00000000  1000        0 53004 1 0000000000000000 20 4 30 10 -1',
  // 2001:db8::1 (network bytes 20 01 0d b8 … 00 01), 2001:db8:0:0:1:: (the longest
  // zero run is the one compressed), 2001:db8::1:0:0:1 (of two equal runs, the
  // first), 2001:db8:0:1:1:1:1:1 (one zero group stays), ::ffff:192.168.1.20.
  '   4: B80D0120000000000000000001000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 53005 1 0000000000000000 100 0 0 10 0',
  '   5: B80D0120000000000000010000000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 53006 1 0000000000000000 100 0 0 10 0',
  '   6: B80D0120000000000000010001000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 53007 1 0000000000000000 100 0 0 10 0',
  '   7: B80D0120010000000100010001000100:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 53008 1 0000000000000000 100 0 0 10 0',
  '   8: 0000000000000000FFFF00001401A8C0:1F90 0000000000000000FFFF00000501A8C0:C350 01 00000000:00000000 00:00000000 00000000    33        0 53009 1 0000000000000000 20 4 30 10 -1',
  '',
].join('\n');

describe('/proc/net/tcp and /proc/net/tcp6', () => {
  it('tcpRows (IPv4): little-endian addresses decoded, hex ports, St as printed, rx_queue from "tx_queue:rx_queue"', () => {
    expect(tcpRows(TCP, '')).toStrictEqual([
      { inode: 52001, host: '127.0.0.1', port: 9000, state: '0A', rxQueue: 3 },
      { inode: 52002, host: '0.0.0.0', port: 8080, state: '0A', rxQueue: 0 },
      { inode: 52003, host: '127.0.0.1', port: 9000, state: '01', rxQueue: 0 },
      { inode: 52004, host: '127.0.0.1', port: 0xd431, state: '01', rxQueue: 0 },
      { inode: 52005, host: '192.168.1.20', port: 8080, state: '01', rxQueue: 0x20 },
      { inode: 0, host: '127.0.0.1', port: 9000, state: '06', rxQueue: 0 },
    ]);
  });

  it('tcpRows (IPv6): ::1, ::, ::ffff:a.b.c.d and RFC 5952 zero compression', () => {
    expect(tcpRows('', TCP6)).toStrictEqual([
      { inode: 53001, host: '::1', port: 9000, state: '0A', rxQueue: 1 },
      { inode: 53002, host: '::', port: 8080, state: '0A', rxQueue: 0 },
      { inode: 53003, host: '::ffff:127.0.0.1', port: 8080, state: '01', rxQueue: 0 },
      { inode: 53004, host: '::1', port: 9000, state: '01', rxQueue: 0 },
      { inode: 53005, host: '2001:db8::1', port: 443, state: '0A', rxQueue: 0 },
      { inode: 53006, host: '2001:db8:0:0:1::', port: 443, state: '0A', rxQueue: 0 },
      { inode: 53007, host: '2001:db8::1:0:0:1', port: 443, state: '0A', rxQueue: 0 },
      { inode: 53008, host: '2001:db8:0:1:1:1:1:1', port: 443, state: '0A', rxQueue: 0 },
      { inode: 53009, host: '::ffff:192.168.1.20', port: 8080, state: '01', rxQueue: 0 },
    ]);
  });

  it('tcpRows reads tcp first, then tcp6', () => {
    expect(tcpRows(TCP, TCP6).map((r) => r.inode)).toEqual([52001, 52002, 52003, 52004, 52005, 0, 53001, 53002, 53003, 53004, 53005, 53006, 53007, 53008, 53009]);
  });

  it('the rx_queue of a LISTEN row is the accept queue: 0x10 connections waiting reads 16, not the tx_queue beside it', () => {
    const row = '   0: 0100007F:2328 00000000:0000 0A 00000007:00000010 00:00000000 00000000  1000        0 52101 1 0000000000000000 100 0 0 10 0';
    expect(tcpRows(`${TCP_HEADER}\n${row}\n`, '')).toStrictEqual([{ inode: 52101, host: '127.0.0.1', port: 9000, state: '0A', rxQueue: 16 }]);
  });

  it('tcpListeners: only LISTEN rows (st 0A), from both files', () => {
    expect(tcpListeners(TCP, TCP6)).toStrictEqual(
      new Map([
        [52001, { host: '127.0.0.1', port: 9000 }],
        [52002, { host: '0.0.0.0', port: 8080 }],
        [53001, { host: '::1', port: 9000 }],
        [53002, { host: '::', port: 8080 }],
        [53005, { host: '2001:db8::1', port: 443 }],
        [53006, { host: '2001:db8:0:0:1::', port: 443 }],
        [53007, { host: '2001:db8::1:0:0:1', port: 443 }],
        [53008, { host: '2001:db8:0:1:1:1:1:1', port: 443 }],
      ]),
    );
  });

  it('a header alone, or nothing at all, gives no rows', () => {
    expect(tcpRows(TCP_HEADER, TCP6_HEADER)).toEqual([]);
    expect(tcpRows('', '')).toEqual([]);
    expect(tcpListeners('', '')).toEqual(new Map());
  });
});

describe('addressOfInode', () => {
  const unix = unixSocketPaths(UNIX);
  const tcp = tcpListeners(TCP, TCP6);

  it.each([
    [41001, { kind: 'unix', path: '/run/fcgid/app.sock' }],
    [41010, { kind: 'unix', path: '/tmp/two  spaces.sock' }],
    [52001, { kind: 'tcp', host: '127.0.0.1', port: 9000 }],
    [53001, { kind: 'tcp', host: '::1', port: 9000 }],
    [53002, { kind: 'tcp', host: '::', port: 8080 }],
    // An established socket is no listener's address.
    [52003, null],
    [12345, null],
  ])('inode %i → %j', (inode, address) => {
    expect(addressOfInode(inode, unix, tcp)).toStrictEqual(address);
  });
});

// ---------------------------------------------------------------------------
// The per-process probes, on this machine's /proc.

describe('per-process probes on this machine', () => {
  const cleanup: Array<() => void> = [];
  afterAll(() => {
    for (const f of cleanup.splice(0)) f();
  });

  it('socketInode and socketFds see a socket this process holds, with the inode /proc/net/tcp shows for it', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanup.push(() => server.close());
    const port = (server.address() as net.AddressInfo).port;
    const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
    const inode = socketInode(fd);
    expect(inode).toBeGreaterThan(0);
    expect(socketFds(process.pid).get(fd)).toBe(inode);
    expect(tcpRows().find((r) => r.inode === inode)).toStrictEqual({ inode, host: '127.0.0.1', port, state: '0A', rxQueue: 0 });
    expect(socketInode(0, 999_999_999)).toBeNull();
  });

  it('ioCounter grows when the process writes', () => {
    const before = ioCounter(process.pid);
    expect(before).not.toBeNull();
    writeFileSync(join(tmpdir(), `fcgid-procnet-${process.pid}`), Buffer.alloc(4096));
    cleanup.push(() => writeFileSync(join(tmpdir(), `fcgid-procnet-${process.pid}`), ''));
    expect(ioCounter(process.pid)!).toBeGreaterThanOrEqual(before! + 4096);
    expect(ioCounter(999_999_999)).toBeNull();
  });

  it('blockedIn: a process blocked in read(12, …) shows read and fd 12 (the argument is printed in hex: 0xc)', async () => {
    // python3 blocks in read(2) on descriptor 12, a pipe nobody writes to.
    const stdio: Array<'ignore' | 'pipe'> = ['ignore', 'ignore', 'ignore', ...Array<'ignore'>(9).fill('ignore'), 'pipe'];
    const child = spawn('python3', ['-c', 'import os; os.read(12, 1)'], { stdio });
    cleanup.push(() => child.kill('SIGKILL'));
    const READ = { x64: 0, arm64: 63 }[process.arch as 'x64' | 'arm64'];
    const deadline = Date.now() + 10_000;
    let seen = blockedIn(child.pid!);
    while (!(seen && seen.nr === READ && seen.arg0 === 12) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      seen = blockedIn(child.pid!);
    }
    expect(seen).toStrictEqual({ nr: READ, arg0: 12 });
    expect(blockedIn(999_999_999)).toBeNull();
  });
});

// ---------------------------------------------------------------------------
// Wake-ups as progress (src/host/observe.ts): /proc gives each thread's
// voluntary_ctxt_switches over its life; progress is their growth.
describe('Wakeups', () => {
  const all = (): boolean => true;
  it('adds only what each thread did since the last look', () => {
    const w = new Wakeups();
    w.add([{ tid: 1, wakeups: 10 }, { tid: 2, wakeups: 5 }], all);
    const base = w.total;
    expect(w.add([{ tid: 1, wakeups: 10 }, { tid: 2, wakeups: 5 }], all)).toBe(base);
    expect(w.add([{ tid: 1, wakeups: 12 }, { tid: 2, wakeups: 5 }], all)).toBe(base + 2);
  });

  it('does not move when a thread stops counting (it waits for connections) or starts again without waking', () => {
    const w = new Wakeups();
    const counting = new Set([1, 2]);
    const counts = (t: { tid: number }): boolean => counting.has(t.tid);
    const base = w.add([{ tid: 1, wakeups: 100 }, { tid: 2, wakeups: 7 }], counts);
    counting.delete(1);
    expect(w.add([{ tid: 1, wakeups: 100 }, { tid: 2, wakeups: 7 }], counts)).toBe(base);
    counting.add(1);
    expect(w.add([{ tid: 1, wakeups: 100 }, { tid: 2, wakeups: 7 }], counts)).toBe(base);
  });

  it('wake-ups while a thread does not count are not added later', () => {
    const w = new Wakeups();
    let counting = true;
    const base = w.add([{ tid: 1, wakeups: 3 }], () => counting);
    counting = false;
    w.add([{ tid: 1, wakeups: 50 }], () => counting);
    counting = true;
    expect(w.add([{ tid: 1, wakeups: 51 }], () => counting)).toBe(base + 1);
  });

  it('does not move when a thread exits; a new thread (or one that reused an id) adds its whole count', () => {
    const w = new Wakeups();
    const base = w.add([{ tid: 1, wakeups: 10 }, { tid: 2, wakeups: 40 }], all);
    expect(w.add([{ tid: 1, wakeups: 10 }], all)).toBe(base);
    expect(w.add([{ tid: 1, wakeups: 10 }, { tid: 3, wakeups: 4 }], all)).toBe(base + 4);
    expect(w.add([{ tid: 1, wakeups: 10 }, { tid: 3, wakeups: 2 }], all)).toBe(base + 6);
  });
});

// ---------------------------------------------------------------------------
// A hijacker (a worker that bound its own socket at the pool's path) as the
// scan tells it, on real sockets of this process: anyone may bind a socket
// whose path holds a newline and a whole forged row.
describe('hijackers', () => {
  const servers: net.Server[] = [];
  let dir = '';
  afterAll(() => {
    for (const s of servers) s.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const listen = (server: net.Server, where: string | { host: string; port: number }): Promise<net.Server> => {
    servers.push(server);
    return new Promise((resolve, reject) => server.once('error', reject).listen(where, () => resolve(server)));
  };
  const fdOf = (s: net.Server): number => (s as unknown as { _handle: { fd: number } })._handle.fd;

  it('regression: a forged listening row at the pool\'s path, carrying the inode of a TCP socket a worker holds, made that worker a hijacker and the pool failed; now only a socket file that replaced fcgid\'s counts', async () => {
    dir = mkdtempSync('/tmp/f-');
    const path = join(dir, 'p');
    const pool = await listen(net.createServer(), path);
    const file = statSync(path);
    // A socket "the worker" (this process) holds that /proc/net/unix does not list.
    const tcp = await listen(net.createServer(), { host: '127.0.0.1', port: 0 });
    const tcpInode = socketInode(fdOf(tcp))!;
    // Its "path" holds slashes: the directories on the way are made as well, as an attacker would.
    const forgery = `${dir}/f\n0000000000000000: 00000002 00000000 00010000 0001 01 ${tcpInode} ${path}`;
    mkdirSync(dirname(forgery), { recursive: true });
    await listen(net.createServer(), forgery);
    expect(unixRowsOf([socketInode(fdOf(pool))!]).some((r) => r.listening && r.inode === tcpInode)).toBe(true);
    const probe = (): PoolProbe => ({ name: 'app', listener: { address: { kind: 'unix', path }, fd: fdOf(pool), file: { dev: file.dev, ino: file.ino } }, workerFd: 0, pids: [process.pid], memory: false });
    expect(new ProcObserver().observe([probe()]).get('app')!.hijackers).toEqual([]);
    // The control: a socket of this process that took the path is one.
    rmSync(path);
    await listen(net.createServer(), path);
    expect(new ProcObserver().observe([probe()]).get('app')!.hijackers).toEqual([process.pid]);
  });
});
