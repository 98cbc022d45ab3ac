/** What every phase needs: options, the worker pool, credentials and a logger. */
import type { BenchOptions } from '../options';
import type { WorkerPool } from '../load/pool';
import type { BenchUser, ConnectSubscribersResult, SubscriberSpec } from '../load/protocol';

/** Shared state of one bench run. */
export interface PhaseContext {
  options: BenchOptions;
  pool: WorkerPool;
  secret: string;
  adminToken: string;
  logDir: string;
  /** Prints one progress line (to stderr, so the table on stdout stays clean). */
  log: (line: string) => void;
}

/**
 * Connects `subscribers` across all workers and waits until each has received its expected
 * INITIAL events (the sign its subscription is live), or until a timeout that grows with S.
 */
export async function connectSubscribersEverywhere(
  context: PhaseContext,
  wsUrl: string,
  subscribers: SubscriberSpec[],
): Promise<ConnectSubscribersResult> {
  const timeoutMs = 60_000 + subscribers.length * 5;
  const shares = context.pool.split(subscribers);
  const results = await Promise.all(
    shares.map((share, index) =>
      context.pool.call(index, { kind: 'connectSubscribers', url: wsUrl, subscribers: share, concurrency: 64, timeoutMs }),
    ),
  );
  return {
    acked: results.reduce((sum, r) => sum + r.acked, 0),
    ready: results.reduce((sum, r) => sum + r.ready, 0),
    failed: results.reduce((sum, r) => sum + r.failed, 0),
    elapsedMs: Math.max(...results.map((r) => r.elapsedMs)),
    firstErrors: results.flatMap((r) => r.firstErrors).slice(0, 5),
  };
}

/**
 * Connects publishers (with a device in connectionParams) across all workers, as the workers'
 * `population` set (default 'main'); returns how many per worker.
 */
export async function connectPublishersEverywhere(context: PhaseContext, wsUrl: string, publishers: BenchUser[], population?: string): Promise<number[]> {
  const shares = context.pool.split(publishers);
  const results = await Promise.all(
    shares.map((share, index) =>
      context.pool.call(index, {
        kind: 'connectPublishers',
        population,
        url: wsUrl,
        publishers: share,
        deviceId: 'bench-publisher',
        concurrency: 32,
        timeoutMs: 30_000,
      }),
    ),
  );
  const failed = results.reduce((sum, r) => sum + r.failed, 0);
  if (failed > 0) context.log(`  ${failed} publishers failed to connect: ${results.flatMap((r) => r.firstErrors).slice(0, 3).join(' | ')}`);
  return results.map((r) => r.acked);
}

/** Sum of all workers' CPU time in ms. */
export async function clientCpuMs(context: PhaseContext): Promise<number> {
  const usages = await context.pool.broadcast({ kind: 'cpuUsage' });
  return usages.reduce((sum, u) => sum + u.userMs + u.systemMs, 0);
}
