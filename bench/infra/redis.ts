/**
 * The bench's own redis-server: a fresh process on a free port, without persistence, killed
 * by PID at the end. The bench never connects to any other Redis (in particular not 6379).
 */
import net from 'node:net';
import Redis from 'ioredis';
import { waitUntil } from './concurrency';
import { findFreePort } from './ports';
import { ManagedProcess } from './processes';

/** A redis-server the bench started. */
export interface BenchRedis {
  port: number;
  url: string;
  process: ManagedProcess;
  /** An admin connection (INFO, CONFIG, filling keys). */
  admin: Redis;
  /** Closes the admin connection and stops the server by PID. */
  stop(): Promise<void>;
}

/** Starts `redis-server` on a free 127.0.0.1 port with `--save "" --appendonly no`. */
export async function startBenchRedis(name: string, logDir: string): Promise<BenchRedis> {
  const port = await findFreePort();
  const server = ManagedProcess.start({
    name,
    command: 'redis-server',
    args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    env: process.env,
    logDir,
  });
  const admin = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  // Connection errors surface through the awaited commands; without a listener ioredis prints them.
  admin.on('error', () => undefined);
  const up = await waitUntil(
    async () => {
      if (server.exited) return true;
      try {
        if (admin.status !== 'ready') await admin.connect();
        return (await admin.ping()) === 'PONG';
      } catch {
        admin.disconnect();
        return false;
      }
    },
    10_000,
    100,
  );
  if (!up || server.exited) {
    admin.disconnect();
    await server.stop('SIGKILL');
    throw new Error(`redis-server ${name} did not start on port ${port}:\n${server.tailLog()}`);
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    process: server,
    admin,
    async stop() {
      admin.disconnect();
      await server.stop('SIGTERM', 5_000);
    },
  };
}

const FILL_SCRIPT = `
local from, to, prefix = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
for i = from, to do
  redis.call('SET', prefix .. i, 'x', 'EX', 86400 + (i % 86400))
end
return to - from + 1`;

/**
 * Adds keys `bench:unrelated:<from..to-1>` with long TTLs (one to two days), in Lua batches of
 * 50,000, so Redis's active-expiry cycle has a large expires table to sample, like a
 * production Redis shared with other data.
 */
export async function fillUnrelatedKeys(redis: Redis, from: number, to: number): Promise<void> {
  const batch = 50_000;
  for (let start = from; start < to; start += batch) {
    const end = Math.min(to, start + batch) - 1;
    await redis.eval(FILL_SCRIPT, 0, String(start), String(end), 'bench:unrelated:');
  }
}

/** Per-command call counts from INFO commandstats (`cmdstat_<name>:calls=N`). */
export async function commandCalls(redis: Redis): Promise<Map<string, number>> {
  const info = await redis.info('commandstats');
  const calls = new Map<string, number>();
  for (const line of info.split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (match?.[1] !== undefined) calls.set(match[1], Number(match[2]));
  }
  return calls;
}

/** `after - before` per command, dropping zeros and the bench's own INFO/CONFIG calls. */
export function diffCommandCalls(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const diff = new Map<string, number>();
  for (const [name, count] of after) {
    if (name === 'info' || name.startsWith('config') || name === 'monitor') continue;
    const delta = count - (before.get(name) ?? 0);
    if (delta > 0) diff.set(name, delta);
  }
  return diff;
}

/** One command as MONITOR shows it: its arguments (name first) and where it came from ("lua" for a script's calls). */
export type MonitorListener = (args: string[], source: string) => void;

/** A MONITOR connection: `close()` ends it. */
export interface MonitorStream {
  close(): void;
}

/**
 * One MONITOR line, `+<time> [<db> <source>] "<arg>" "<arg>" …`, split the way ioredis does
 * (arguments in quotes, `\"` unescaped; other escapes left as they are: a tally only needs the
 * command name and whether a user id appears).
 */
function parseMonitorLine(line: string): { args: string[]; source: string } | null {
  const open = line.indexOf(' [');
  const close = line.indexOf('] "', open);
  if (!line.startsWith('+') || open < 0 || close < 0) return null;
  const [, source = ''] = line.slice(open + 2, close).split(' ');
  const args = line
    .slice(close + 3, -1)
    .split('" "')
    .map((arg) => arg.replace(/\\"/g, '"'));
  return { args, source };
}

/**
 * MONITOR on its own socket, read line by line. Not ioredis's `monitor()`: it switches into
 * monitoring mode a microtask after the MONITOR reply, so lines that arrive in the same read
 * as that reply hit an empty command queue ("Command queue state error", which crashed a run
 * when the service's sweeper was busy). Resolves once Redis has answered +OK.
 */
export function openMonitor(port: number, listener: MonitorListener): Promise<MonitorStream> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let pending = '';
    let monitoring = false;
    const stream: MonitorStream = { close: () => socket.destroy() };
    socket.setEncoding('utf8');
    socket.once('error', reject);
    socket.on('connect', () => socket.write('MONITOR\r\n'));
    socket.on('data', (chunk: string) => {
      pending += chunk;
      let end: number;
      while ((end = pending.indexOf('\r\n')) >= 0) {
        const line = pending.slice(0, end);
        pending = pending.slice(end + 2);
        if (!monitoring) {
          if (line !== '+OK') {
            socket.destroy();
            reject(new Error(`MONITOR refused: ${line}`));
            return;
          }
          monitoring = true;
          socket.removeListener('error', reject);
          socket.on('error', () => undefined);
          resolve(stream);
          continue;
        }
        const parsed = parseMonitorLine(line);
        if (parsed) listener(parsed.args, parsed.source);
      }
    });
  });
}
