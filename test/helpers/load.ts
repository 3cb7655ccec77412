// Load through nginx for tests of stops and restarts: HTTP clients on kept-alive
// connections, each sending one request after another while an action runs,
// every reply recorded. Bounded in time, and each loop stops by itself.

import http from 'node:http';
import { NGINX_HOST } from './nginx.js';

export interface Reply {
  client: number;
  status: number;
  body: string;
  /** The request went out on a kept-alive connection. */
  reused: boolean;
  error?: string;
  end: number;
}

export function get(agent: http.Agent, port: number, path: string, client: number): Promise<Reply> {
  return new Promise((resolve) => {
    const req = http.get({ host: NGINX_HOST, port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ client, status: res.statusCode ?? 0, body, reused: req.reusedSocket, end: Date.now() }));
      res.on('error', (err) => resolve({ client, status: 0, body, reused: req.reusedSocket, error: err.message, end: Date.now() }));
    });
    req.on('error', (err) => resolve({ client, status: 0, body: '', reused: req.reusedSocket, error: err.message, end: Date.now() }));
  });
}

/**
 * `clients` keep-alive HTTP clients, each sending one request after another,
 * from before `action` starts until it ends (at most `limitMs`). Each client has
 * answered at least once before `action` starts.
 */
export async function underLoad<T>(port: number, path: string, clients: number, action: () => Promise<T>, limitMs = 30_000) {
  let done = false;
  const deadline = Date.now() + limitMs;
  const replies: Reply[] = [];
  const firsts: Array<Promise<void>> = [];
  const loops = Array.from({ length: clients }, (_, client) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    let first!: () => void;
    firsts.push(new Promise<void>((r) => (first = r)));
    return (async () => {
      try {
        for (let i = 0; !done && Date.now() < deadline; i++) {
          replies.push(await get(agent, port, `${path}c${client}/r${i}`, client));
          first();
        }
      } finally {
        first();
        agent.destroy();
      }
    })();
  });
  await Promise.all(firsts);
  const start = Date.now();
  let result: T;
  try {
    result = await action();
  } finally {
    done = true;
  }
  const end = Date.now();
  await Promise.all(loops);
  return { result, replies, start, end };
}

