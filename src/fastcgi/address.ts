// Addresses of FastCGI sockets as users write them: `unix:/run/app.sock`, a bare
// absolute path, `tcp://127.0.0.1:9000`, `tcp://[::1]:9000`, `127.0.0.1:9000`,
// or a bare port. One parser serves the client, the responder and the CLIs.

export type Address =
  | { kind: 'unix'; path: string }
  | { kind: 'tcp'; host: string; port: number }
  /** A socket systemd passes to fcgid by name (LISTEN_FDNAMES); only fcgid's config uses it. */
  | { kind: 'systemd'; name: string };

export class AddressError extends Error {
  override readonly name = 'AddressError';
  readonly code = 'FCGI_BAD_ADDRESS';
}

export function parseAddress(input: string | number | Address): Address {
  if (typeof input === 'object') return input;
  if (typeof input === 'number') return { kind: 'tcp', host: '127.0.0.1', port: checkPort(String(input), String(input)) };
  const text = input.trim();
  if (text.startsWith('unix:')) {
    const path = text.slice('unix:'.length).replace(/^\/\/(?=\/)/, '');
    if (!path) throw new AddressError(`address "${input}": unix: needs a path, e.g. unix:/run/fcgid/app.sock`);
    return { kind: 'unix', path };
  }
  if (text.startsWith('/') || text.startsWith('./') || text.startsWith('../')) return { kind: 'unix', path: text };
  const rest = text.startsWith('tcp://') ? text.slice('tcp://'.length) : text;
  if (/^\d+$/.test(rest)) return { kind: 'tcp', host: '127.0.0.1', port: checkPort(rest, input) };
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]/]+)):(\d+)$/.exec(rest);
  if (!m) {
    throw new AddressError(
      `address "${input}": expected unix:/path/to.sock, tcp://HOST:PORT or tcp://[IPv6]:PORT`,
    );
  }
  return { kind: 'tcp', host: (m[1] ?? m[2])!, port: checkPort(m[3]!, input) };
}

function checkPort(text: string, input: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new AddressError(`address "${input}": port must be 1-65535, got ${text}`);
  }
  return port;
}

export function formatAddress(address: Address): string {
  if (address.kind === 'unix') return `unix:${address.path}`;
  if (address.kind === 'systemd') return `systemd:${address.name}`;
  return address.host.includes(':') ? `tcp://[${address.host}]:${address.port}` : `tcp://${address.host}:${address.port}`;
}

/** Options for net.connect / net.Server.listen. */
export function netOptions(address: Address): { path: string } | { host: string; port: number } {
  if (address.kind === 'systemd') {
    throw new AddressError(`${formatAddress(address)} names a socket systemd passes to fcgid; connect to its real address instead`);
  }
  return address.kind === 'unix' ? { path: address.path } : { host: address.host, port: address.port };
}
